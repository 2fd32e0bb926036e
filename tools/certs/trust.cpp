// trust.cpp: trust_instructions, the "how to make a client trust this CA"
// text gort-certs prints. It only prints commands; nothing here changes a
// trust store.
#include "certs.hpp"

#include <filesystem>

namespace gort::certs {

namespace {

// shell_quoted is path as one shell word: itself when it is plain, else in
// single quotes.
std::string shell_quoted(const std::string& path) {
  if (!path.empty() &&
      path.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./+-@%:=,") ==
          std::string::npos) {
    return path;
  }
  std::string out = "'";
  for (char c : path) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// python_quoted is path as a Python string literal.
std::string python_quoted(const std::string& path) {
  std::string out = "\"";
  for (char c : path) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string trust_instructions(const CA& ca) {
  std::error_code ignored;
  std::filesystem::path abs = std::filesystem::absolute(ca.cert_path(), ignored).lexically_normal();
  const std::string cert = shell_quoted(abs.string());
  std::string key =
      shell_quoted(std::filesystem::absolute(ca.key_path(), ignored).lexically_normal().string());

  std::string s;
  s += "To make a client trust the CA (commands to run yourself; gort-certs changes no trust store):\n";
  s += "  curl:      curl --cacert " + cert + " https://HOST:PORT/\n";
  s += "  OpenSSL:   openssl s_client -CAfile " + cert + " -connect HOST:PORT -servername HOST\n";
  s += "  Python:    ssl.create_default_context(cafile=" + python_quoted(abs.string()) + ")\n";
  s += "  any OpenSSL-based program, Python, Go:\n";
  s += "             SSL_CERT_FILE=" + cert + " program ...   (replaces the default CA bundle)\n";
  s += "  Node.js:   NODE_EXTRA_CA_CERTS=" + cert + " node ...\n";
  s += "  Debian's system store (curl, wget, Python, Go by default), as root:\n";
  s += "             cp " + cert +
       " /usr/local/share/ca-certificates/gort-dev-ca.crt && update-ca-certificates\n";
  s += "             (undo: rm /usr/local/share/ca-certificates/gort-dev-ca.crt && update-ca-certificates "
       "--fresh)\n";
  s += "Keep " + key + " private: whoever has it can make certificates these clients accept.\n";
  return s;
}

}  // namespace gort::certs
