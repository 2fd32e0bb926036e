// gort-certs.cpp: the gort-certs command, mkcert for gort's development: a
// thin main over certs.hpp. It parses arguments, makes sure the local CA
// exists (ensure_ca), writes one leaf certificate and key for the names
// given (make_leaf), and prints what it wrote and how to trust the CA.
//
// Exit status: 0 done; 1 an error while working (a file, the CA, OpenSSL),
// reported on stderr in one line; 2 bad arguments (an unknown option, no
// names, a name that is neither a DNS name nor an IP address), with usage.
#include "certs.hpp"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

namespace certs = gort::certs;

constexpr const char* kUsage =
    "usage: gort-certs [--dir DIR] [--client] [--rsa] [--cert-file FILE] [--key-file FILE] NAME...\n";

constexpr const char* kHelp =
    "\n"
    "Makes a TLS certificate for local development, valid for every NAME: DNS names\n"
    "(localhost, example.test), wildcards (*.example.test), IPv4 and IPv6 addresses\n"
    "(127.0.0.1, ::1). It is signed by a local CA in DIR, which the first run creates\n"
    "and later runs reuse: make clients trust DIR/ca.pem once (printed below each run).\n"
    "\n"
    "  --dir DIR         where the CA is, and the certificates go by default\n"
    "                    (default: $GORT_CERTS_DIR if set, else ./certs)\n"
    "  --cert-file FILE  write the certificate to FILE (default: DIR/NAME[+N].pem, as\n"
    "                    mkcert: the first name, '*' as _wildcard, +N for N more names)\n"
    "  --key-file FILE   write its private key to FILE (default: DIR/NAME[+N]-key.pem)\n"
    "  --client          also for TLS client authentication (extendedKeyUsage\n"
    "                    clientAuth); the default file names end in -client\n"
    "  --rsa             an RSA 2048 key instead of ECDSA P-256 (the CA's key is\n"
    "                    ECDSA P-256 in any case)\n"
    "  -h, --help        this help\n"
    "\n"
    "Files: DIR/ca.pem, the CA certificate (10 years; give it to clients);\n"
    "DIR/ca-key.pem, its key (mode 0600; keep it private). They are never\n"
    "overwritten: to start again, remove both. A certificate is valid for 825 days;\n"
    "its key file has mode 0600. Existing certificate files are replaced.\n"
    "\n"
    "Exit status: 0 done, 1 an error (a file, the CA, OpenSSL), 2 bad arguments.\n";

struct Args {
  std::string dir = certs::default_dir();
  std::string cert_file, key_file;
  certs::LeafOptions options;
  std::vector<std::string> names;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "gort-certs: %s\n%s(gort-certs --help for more)\n", message.c_str(), kUsage);
  return 2;
}

// parse fills args from argv; it returns -1 to go on, or an exit status.
int parse(int argc, char** argv, Args* args) {
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (options_done || arg.empty() || arg[0] != '-') {
      args->names.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      std::printf("%s%s", kUsage, kHelp);
      return 0;
    }
    if (arg == "--client") {
      args->options.client = true;
      continue;
    }
    if (arg == "--rsa") {
      args->options.key_type = certs::KeyType::rsa_2048;
      continue;
    }
    // The options with a value: "--dir DIR" or "--dir=DIR".
    std::string key = arg, value;
    bool has_value = false;
    if (std::size_t eq = arg.find('='); eq != std::string::npos) {
      key = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    std::string* dest = key == "--dir"         ? &args->dir
                        : key == "--cert-file" ? &args->cert_file
                        : key == "--key-file"  ? &args->key_file
                                               : nullptr;
    if (dest == nullptr) return usage_error("unknown option " + arg);
    if (!has_value) {
      if (i + 1 >= argc) return usage_error(key + " needs a value");
      value = argv[++i];
    }
    if (value.empty()) return usage_error(key + " needs a value");
    *dest = value;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (int status = parse(argc, argv, &args); status >= 0) return status;
  std::string detail;
  if (auto err = certs::check_names(args.names, &detail)) return usage_error(detail);

  certs::CA ca;
  if (auto err = certs::ensure_ca(args.dir, &ca, &detail)) {
    std::fprintf(stderr, "gort-certs: %s\n", detail.c_str());
    return 1;
  }
  if (ca.created()) {
    std::printf(
        "Created a new local CA in %s: ca.pem (the certificate, to give to clients),\n"
        "ca-key.pem (its private key, mode 0600). Subject: %s; expires %s.\n\n",
        ca.dir().c_str(), ca.subject().c_str(), ca.not_after().c_str());
  } else {
    std::printf("Using the local CA in %s (%s; expires %s).\n\n", ca.dir().c_str(), ca.subject().c_str(),
                ca.not_after().c_str());
  }

  const std::string base = certs::leaf_basename(args.names, args.options.client);
  const std::string cert_file =
      args.cert_file.empty() ? (std::filesystem::path(args.dir) / (base + ".pem")).string() : args.cert_file;
  const std::string key_file = args.key_file.empty()
                                   ? (std::filesystem::path(args.dir) / (base + "-key.pem")).string()
                                   : args.key_file;
  std::string not_after;
  if (auto err = certs::make_leaf(ca, args.names, cert_file, key_file, &detail, args.options, &not_after)) {
    std::fprintf(stderr, "gort-certs: %s\n", detail.c_str());
    return 1;
  }
  std::printf("Wrote a %s certificate valid for:\n", args.options.client ? "server and client" : "server");
  for (const std::string& name : args.names) std::printf("  - \"%s\"\n", name.c_str());
  std::printf("The certificate is %s, its key %s (mode 0600); it expires %s.\n\n", cert_file.c_str(),
              key_file.c_str(), not_after.c_str());
  std::printf("%s", certs::trust_instructions(ca).c_str());
  return 0;
}
