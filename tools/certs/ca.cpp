// ca.cpp: the local CA: ensure_ca loads DIR/ca.pem + DIR/ca-key.pem, or
// makes them when neither exists, and the CA class that holds the result.
//
// Invariants: an existing CA file is never written to, replaced or removed
// (link(2), not rename, puts new ones in place); a CA is created whole or
// not at all (the key is removed again if the certificate cannot be put
// beside it); creation happens under an exclusive flock(2) on DIR, so
// concurrent first runs agree on one CA.
#include "internal.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace gort::certs {

namespace fs = std::filesystem;
using namespace detail;

CA::CA() = default;
CA::~CA() = default;
CA::CA(CA&&) noexcept = default;
CA& CA::operator=(CA&&) noexcept = default;

namespace {
const std::string kEmpty;
}  // namespace

const std::string& CA::dir() const noexcept { return impl_ ? impl_->dir : kEmpty; }
const std::string& CA::cert_path() const noexcept { return impl_ ? impl_->cert_path : kEmpty; }
const std::string& CA::key_path() const noexcept { return impl_ ? impl_->key_path : kEmpty; }
bool CA::created() const noexcept { return impl_ && impl_->created; }
std::string CA::subject() const { return impl_ ? name_text(X509_get_subject_name(impl_->cert.get())) : ""; }
std::string CA::not_after() const { return impl_ ? time_text(X509_get0_notAfter(impl_->cert.get())) : ""; }

namespace {

constexpr int kCaDays = 3650;  // ten years, as mkcert

// DirLock holds an exclusive flock(2) on a directory while it lives.
class DirLock {
 public:
  std::error_code lock(const std::string& dir, std::string* detail) {
    fd_ = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) return sys_error(errno, detail, "cannot open directory " + dir);
    while (flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) return sys_error(errno, detail, "cannot lock directory " + dir);
    }
    return {};
  }
  ~DirLock() {
    if (fd_ >= 0) close(fd_);  // closing releases the lock
  }

 private:
  int fd_ = -1;
};

// no_passphrase stops OpenSSL from prompting on the terminal for an
// encrypted key: reading one fails instead.
int no_passphrase(char*, int, int, void*) { return -1; }

std::error_code invalid_ca(std::string* detail, const std::string& text) {
  set_detail(detail, text);
  return certs_errc::ca_invalid;
}

std::error_code load(CA::Impl* ca, std::string* detail) {
  const std::string again = ": remove " + ca->cert_path + " and " + ca->key_path +
                            " to make a new CA (clients must then trust the new one)";
  std::string text;
  if (auto err = read_file(ca->cert_path, &text, detail)) return err;
  Ptr<BIO> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (bio) ca->cert.reset(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
  if (!ca->cert)
    return invalid_ca(detail, ca->cert_path + " is not a PEM certificate (" + ossl_queue() + ")" + again);

  if (auto err = read_file(ca->key_path, &text, detail)) return err;
  bio.reset(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (bio) ca->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  OPENSSL_cleanse(text.data(), text.size());
  if (!ca->key) {
    return invalid_ca(detail,
                      ca->key_path + " is not an unencrypted PEM private key (" + ossl_queue() + ")" + again);
  }

  if (X509_check_ca(ca->cert.get()) == 0)
    return invalid_ca(detail, ca->cert_path + " is not a CA certificate" + again);
  if (X509_cmp_current_time(X509_get0_notAfter(ca->cert.get())) <= 0) {
    return invalid_ca(detail,
                      ca->cert_path + " expired on " + time_text(X509_get0_notAfter(ca->cert.get())) + again);
  }
  if (X509_check_private_key(ca->cert.get(), ca->key.get()) != 1) {
    ossl_queue();
    set_detail(detail, ca->key_path + " is not the private key of " + ca->cert_path + again);
    return certs_errc::ca_mismatch;
  }
  return {};
}

std::error_code create(CA::Impl* ca, std::string* detail) {
  std::error_code err;
  ca->key = generate_key(KeyType::ecdsa_p256, detail, &err);
  if (err) return err;
  ca->cert.reset(X509_new());
  if (!ca->cert) return ossl_error(detail, "cannot make a certificate");
  X509* cert = ca->cert.get();
  if ((err = start_cert(cert, ca->key.get(), kCaDays, detail))) return err;

  const std::string who = user_at_host();
  X509_NAME* name = X509_get_subject_name(cert);
  if ((err = add_name_entry(name, "O", "gort development CA", detail)) ||
      (err = add_name_entry(name, "OU", who, detail)) ||
      (err = add_name_entry(name, "CN", "gort dev CA " + who, detail))) {
    return err;
  }
  if (X509_set_issuer_name(cert, name) != 1) return ossl_error(detail, "cannot set the issuer");

  X509V3_CTX ctx{};
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  if ((err = add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", detail)) ||
      (err = add_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign", detail)) ||
      (err = add_ext(cert, &ctx, NID_subject_key_identifier, "hash", detail))) {
    return err;
  }
  if (X509_sign(cert, ca->key.get(), EVP_sha256()) <= 0) return ossl_error(detail, "cannot sign the CA");

  std::string cert_text, key_text;
  if ((err = cert_pem(cert, &cert_text, detail)) || (err = key_pem(ca->key.get(), &key_text, detail)))
    return err;
  Staged key_file, cert_file;
  err = key_file.write(ca->key_path, key_text, 0600, detail);
  OPENSSL_cleanse(key_text.data(), key_text.size());
  if (err || (err = cert_file.write(ca->cert_path, cert_text, 0644, detail))) return err;
  if ((err = key_file.commit(false, detail))) return err;
  if ((err = cert_file.commit(false, detail))) {
    unlink(ca->key_path.c_str());  // ours: made a moment ago, under the lock
    return err;
  }
  ca->created = true;
  return {};
}

}  // namespace

std::error_code ensure_ca(const std::string& dir, CA* out, std::string* detail) {
  ERR_clear_error();
  if (dir.empty()) {
    set_detail(detail, "no directory given for the CA");
    return std::make_error_code(std::errc::invalid_argument);
  }
  auto ca = std::make_unique<CA::Impl>();
  ca->dir = dir;
  ca->cert_path = (fs::path(dir) / "ca.pem").string();
  ca->key_path = (fs::path(dir) / "ca-key.pem").string();

  std::error_code err;
  if (fs::create_directories(dir, err); err) {
    set_detail(detail, "cannot create directory " + dir + ": " + err.message());
    return err;
  }
  DirLock lock;
  if ((err = lock.lock(dir, detail))) return err;

  auto present = [](const std::string& path) {
    std::error_code ignored;
    return fs::symlink_status(path, ignored).type() != fs::file_type::not_found;
  };
  bool have_cert = present(ca->cert_path), have_key = present(ca->key_path);
  if (have_cert != have_key) {
    const std::string& has = have_cert ? ca->cert_path : ca->key_path;
    const std::string& lacks = have_cert ? ca->key_path : ca->cert_path;
    set_detail(detail, has + " exists but " + lacks + " does not: restore it, or remove " + has +
                           " to make a new CA (clients must then trust the new one)");
    return certs_errc::ca_incomplete;
  }
  err = have_cert ? load(ca.get(), detail) : create(ca.get(), detail);
  if (err) return err;
  out->impl_ = std::move(ca);
  return {};
}

}  // namespace gort::certs
