// ossl.cpp: the helpers of internal.hpp: OpenSSL's errors as text, key
// generation, PEM, the common parts of a certificate, and files written
// whole (a temporary file, fsync, then rename or link).
#include "internal.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

namespace gort::certs::detail {

void set_detail(std::string* detail, std::string text) {
  if (detail != nullptr) *detail = std::move(text);
}

std::string ossl_queue() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::error_code ossl_error(std::string* detail, const std::string& what) {
  std::string queue = ossl_queue();
  set_detail(detail, queue.empty() ? what : what + ": " + queue);
  return certs_errc::openssl;
}

std::error_code sys_error(int err, std::string* detail, const std::string& what) {
  set_detail(detail, what + ": " + std::strerror(err));
  return {err, std::system_category()};
}

Ptr<EVP_PKEY> generate_key(KeyType type, std::string* detail, std::error_code* err) {
  Ptr<EVP_PKEY> key(type == KeyType::rsa_2048 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                                              : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) *err = ossl_error(detail, "cannot generate a key");
  return key;
}

namespace {

// bio_text is the contents of a memory BIO.
std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

std::error_code cert_pem(X509* cert, std::string* pem, std::string* detail) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
    return ossl_error(detail, "cannot write a certificate");
  *pem = bio_text(bio.get());
  return {};
}

std::error_code key_pem(EVP_PKEY* key, std::string* pem, std::string* detail) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return ossl_error(detail, "cannot write a private key");
  }
  *pem = bio_text(bio.get());
  return {};
}

std::error_code start_cert(X509* cert, EVP_PKEY* key, int days, std::string* detail) {
  // 128 random bits with the top one set: a positive serial of 17 DER bytes,
  // unguessable (CA/Browser Forum: at least 64 bits of randomness).
  Ptr<BIGNUM> serial(BN_new());
  if (!serial || BN_rand(serial.get(), 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    return ossl_error(detail, "cannot make a serial number");
  }
  if (X509_set_version(cert, X509_VERSION_3) != 1 || X509_set_pubkey(cert, key) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(cert), 0) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, nullptr) == nullptr) {
    return ossl_error(detail, "cannot fill in a certificate");
  }
  return {};
}

std::error_code add_name_entry(X509_NAME* name, const char* field, const std::string& value,
                               std::string* detail) {
  // ub-common-name, ub-organization-name and ub-organizational-unit-name are
  // all 64 (RFC 5280); OpenSSL refuses longer values. Names here are ASCII,
  // so cutting bytes cuts characters.
  std::string v = value.substr(0, 64);
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(v.data()),
                                 static_cast<int>(v.size()), -1, 0) != 1) {
    return ossl_error(detail, std::string("cannot set ") + field + "=" + v);
  }
  return {};
}

std::error_code add_ext(X509* cert, X509V3_CTX* ctx, int nid, const char* value, std::string* detail) {
  X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, ctx, nid, value);
  if (ext == nullptr) return ossl_error(detail, std::string("cannot make extension ") + OBJ_nid2sn(nid));
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return ossl_error(detail, std::string("cannot add extension ") + OBJ_nid2sn(nid));
  return {};
}

std::string name_text(const X509_NAME* name) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio) return {};
  // XN_FLAG_ONELINE without the spaces around '=': "O=..., OU=..., CN=...".
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ);
  return bio_text(bio.get());
}

std::string time_text(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string user_at_host() {
  std::string user;
  passwd pw{}, *found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(getuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) user = pw.pw_name;
  if (user.empty()) {
    const char* env = std::getenv("USER");
    user = env != nullptr && *env != '\0' ? env : "unknown";
  }
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  return user + "@" + host;
}

std::error_code read_file(const std::string& path, std::string* data, std::string* detail) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error(errno, detail, "cannot open " + path);
  data->clear();
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return sys_error(e, detail, "cannot read " + path);
    }
    if (n == 0) break;
    data->append(buf, static_cast<std::size_t>(n));
    if (data->size() > (1u << 20)) {
      close(fd);
      return sys_error(EFBIG, detail, "cannot read " + path + " (over 1 MiB, not a PEM file)");
    }
  }
  close(fd);
  return {};
}

Staged::~Staged() {
  if (!tmp_.empty()) unlink(tmp_.c_str());
}

std::error_code Staged::write(const std::string& path, const std::string& data, mode_t mode,
                              std::string* detail) {
  path_ = path;
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = mkostemp(tmp.data(), O_CLOEXEC);  // mode 0600 from the start: no window for a key
  if (fd < 0) return sys_error(errno, detail, "cannot create " + path);
  tmp_ = tmp;
  auto fail = [&](const char* what) {
    int e = errno;
    close(fd);
    return sys_error(e, detail, what + path);
  };
  if (fchmod(fd, mode) != 0) return fail("cannot set the mode of ");
  for (std::size_t off = 0; off < data.size();) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write ");
    off += static_cast<std::size_t>(n);
  }
  if (fsync(fd) != 0) return fail("cannot write ");
  if (close(fd) != 0) return sys_error(errno, detail, "cannot write " + path);
  return {};
}

std::error_code Staged::commit(bool replace, std::string* detail) {
  if (replace) {
    if (rename(tmp_.c_str(), path_.c_str()) != 0) return sys_error(errno, detail, "cannot write " + path_);
  } else {
    if (link(tmp_.c_str(), path_.c_str()) != 0) return sys_error(errno, detail, "cannot create " + path_);
    unlink(tmp_.c_str());
  }
  tmp_.clear();
  return {};
}

}  // namespace gort::certs::detail
