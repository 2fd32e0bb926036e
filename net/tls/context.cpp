// context.cpp: Certificate and Context (see <gort/tls.hpp>): PEM key pairs
// loaded and checked, and a Config turned into an OpenSSL SSL_CTX with the
// server's callbacks: the certificate chosen by SNI (Go's getCertificate)
// and the ALPN protocol chosen by the server's preference (Go's
// negotiateALPN).
//
// Invariant: a Ctx is complete and immutable before a Context holds it;
// the callbacks only read it, from any thread, so no lock is needed.
#include "tls_internal.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace gort::tls {

namespace detail {

namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

// cert_names: the leaf's DNS and IP subjectAltNames, else its subject CN.
std::vector<std::string> cert_names(X509* leaf) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
    if (gn->type == GEN_DNS) {
      const auto* p = reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName));
      names.push_back(
          lower(std::string_view(p, static_cast<std::size_t>(ASN1_STRING_length(gn->d.dNSName)))));
    } else if (gn->type == GEN_IPADD) {
      int len = ASN1_STRING_length(gn->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = {};
      if (len == 4 || len == 16)
        ::inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(gn->d.iPAddress), text, sizeof text);
      if (text[0]) names.push_back(text);
    }
  }
  GENERAL_NAMES_free(sans);
  if (names.empty()) {
    char cn[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof cn) > 0)
      names.push_back(lower(cn));
  }
  return names;
}

// servername_cb: the server's certificate for the client's SNI (OpenSSL
// calls it with or without SNI, before the certificate is sent).
int servername_cb(SSL* ssl, int* alert, void* arg) {
  const auto* ctx = static_cast<const Ctx*>(arg);
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const CertData* cd = ctx->pick(sni ? sni : "");
  if (!cd) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (cd != Ctx::data(ctx->cfg.certificates.front()) &&
      SSL_use_cert_and_key(ssl, cd->leaf.get(), cd->key.get(), cd->chain.get(), 1) != 1) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

// alpn_cb: the first of the server's protocols that the client offers;
// none in common fails the handshake (no_application_protocol).
int alpn_cb(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
            void* arg) {
  const auto* ctx = static_cast<const Ctx*>(arg);
  if (ctx->cfg.next_protos.empty()) return SSL_TLSEXT_ERR_NOACK;
  for (const std::string& want : ctx->cfg.next_protos) {
    for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
      unsigned len = in[i];
      if (i + 1 + len > inlen) break;  // a malformed list (OpenSSL checks it first)
      if (len == want.size() && std::equal(want.begin(), want.end(), in + i + 1)) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// new_ctx: an SSL_CTX with what servers and clients share: versions, no
// renegotiation, no compression, buffers released while idle.
Result<std::unique_ptr<SSL_CTX, SslCtxFree>> new_ctx(const SSL_METHOD* method, const Config& cfg) {
  std::unique_ptr<SSL_CTX, SslCtxFree> c(SSL_CTX_new(method));
  if (!c) return {nullptr, make_error_code(tls_errc::bad_config)};
  if (SSL_CTX_set_min_proto_version(c.get(), cfg.min_version) != 1 ||
      SSL_CTX_set_max_proto_version(c.get(), cfg.max_version) != 1)
    return {nullptr, make_error_code(tls_errc::bad_config)};
  SSL_CTX_set_options(c.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(c.get(), SSL_MODE_RELEASE_BUFFERS);
  return {std::move(c), {}};
}

// alpn_wire: protocols as ALPN's length-prefixed list ("" if one is empty
// or longer than 255 bytes: not valid).
std::string alpn_wire(const std::vector<std::string>& protos) {
  std::string w;
  for (const auto& p : protos) {
    if (p.empty() || p.size() > 255) return {};
    w += static_cast<char>(p.size());
    w += p;
  }
  return w;
}

}  // namespace

const CertData* Ctx::pick(std::string_view sni) const {
  if (cfg.certificates.empty()) return nullptr;
  std::string host = lower(sni);
  if (!host.empty() && host.back() == '.') host.pop_back();  // Go trims a trailing dot
  if (!host.empty()) {
    for (const auto& c : cfg.certificates)
      for (const auto& n : data(c)->names)
        if (n == host) return data(c);
    for (const auto& c : cfg.certificates)
      for (const auto& n : data(c)->names)
        if (name_matches(n, host)) return data(c);
  }
  return cfg.strict_sni ? nullptr : data(cfg.certificates.front());
}

std::string queue_detail() {
  std::string d;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!d.empty()) d += "; ";
    d += buf;
  }
  return d;
}

}  // namespace detail

bool name_matches(std::string_view pattern, std::string_view host) noexcept {
  if (pattern == host) return true;
  if (pattern.size() < 3 || pattern.substr(0, 2) != "*.") return false;
  auto dot = host.find('.');
  return dot != std::string_view::npos && dot > 0 && host.substr(dot) == pattern.substr(1);
}

const std::vector<std::string>& Certificate::names() const noexcept {
  static const std::vector<std::string> none;
  return data_ ? data_->names : none;
}

Result<Certificate> x509_key_pair(std::string_view cert_pem, std::string_view key_pem) {
  using namespace detail;
  ERR_clear_error();
  auto data = std::make_shared<CertData>();
  std::unique_ptr<BIO, decltype(&BIO_free)> cb(
      BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> kb(
      BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), BIO_free);
  if (!cb || !kb) return {{}, std::make_error_code(std::errc::not_enough_memory)};
  data->leaf.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  if (!data->leaf) return {{}, make_error_code(tls_errc::bad_key_pair)};
  data->chain.reset(sk_X509_new_null());
  while (X509* x = PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr)) sk_X509_push(data->chain.get(), x);
  ERR_clear_error();  // the loop ends on "no start line"
  data->key.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!data->key || X509_check_private_key(data->leaf.get(), data->key.get()) != 1) {
    ERR_clear_error();
    return {{}, make_error_code(tls_errc::bad_key_pair)};
  }
  data->names = cert_names(data->leaf.get());
  Certificate c;
  c.data_ = std::move(data);
  return {std::move(c), {}};
}

namespace {

Result<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {{}, std::error_code(errno ? errno : ENOENT, std::system_category())};
  std::ostringstream s;
  s << f.rdbuf();
  return {s.str(), {}};
}

}  // namespace

Result<Certificate> load_x509_key_pair(const std::string& cert_file, const std::string& key_file) {
  auto cert = read_file(cert_file);
  if (cert.err) return {{}, cert.err};
  auto key = read_file(key_file);
  if (key.err) return {{}, key.err};
  return x509_key_pair(cert.value, key.value);
}

Result<Context> Context::server(const Config& cfg) {
  using namespace detail;
  if (cfg.certificates.empty()) return {{}, make_error_code(tls_errc::bad_config)};
  for (const auto& c : cfg.certificates)
    if (!c) return {{}, make_error_code(tls_errc::bad_key_pair)};
  auto ctx = std::make_shared<Ctx>();
  ctx->is_server = true;
  ctx->cfg = cfg;
  ctx->alpn_wire = alpn_wire(cfg.next_protos);
  if (!cfg.next_protos.empty() && ctx->alpn_wire.empty()) return {{}, make_error_code(tls_errc::bad_config)};
  auto [c, err] = new_ctx(TLS_server_method(), cfg);
  if (err) return {{}, err};
  const CertData* first = Ctx::data(cfg.certificates.front());
  if (SSL_CTX_use_cert_and_key(c.get(), first->leaf.get(), first->key.get(), first->chain.get(), 1) != 1) {
    ERR_clear_error();
    return {{}, make_error_code(tls_errc::bad_key_pair)};
  }
  SSL_CTX_set_tlsext_servername_callback(c.get(), servername_cb);
  SSL_CTX_set_tlsext_servername_arg(c.get(), ctx.get());
  SSL_CTX_set_alpn_select_cb(c.get(), alpn_cb, ctx.get());
  ctx->ssl_ctx = std::move(c);
  Context out;
  out.ctx_ = std::move(ctx);
  return {std::move(out), {}};
}

Result<Context> Context::client(const Config& cfg) {
  using namespace detail;
  auto ctx = std::make_shared<Ctx>();
  ctx->cfg = cfg;
  ctx->alpn_wire = alpn_wire(cfg.next_protos);
  if (!cfg.next_protos.empty() && ctx->alpn_wire.empty()) return {{}, make_error_code(tls_errc::bad_config)};
  auto [c, err] = new_ctx(TLS_client_method(), cfg);
  if (err) return {{}, err};
  if (!cfg.insecure_skip_verify) {
    SSL_CTX_set_verify(c.get(), SSL_VERIFY_PEER, nullptr);
    int ok = cfg.ca_file.empty() ? SSL_CTX_set_default_verify_paths(c.get())
                                 : SSL_CTX_load_verify_locations(c.get(), cfg.ca_file.c_str(), nullptr);
    if (ok != 1) {
      ERR_clear_error();
      return {{}, make_error_code(tls_errc::bad_config)};
    }
  }
  if (!ctx->alpn_wire.empty() &&
      SSL_CTX_set_alpn_protos(c.get(), reinterpret_cast<const unsigned char*>(ctx->alpn_wire.data()),
                              static_cast<unsigned>(ctx->alpn_wire.size())) != 0)
    return {{}, make_error_code(tls_errc::bad_config)};
  if (!cfg.certificates.empty()) {  // a client certificate
    const CertData* cd = Ctx::data(cfg.certificates.front());
    if (!cd || SSL_CTX_use_cert_and_key(c.get(), cd->leaf.get(), cd->key.get(), cd->chain.get(), 1) != 1) {
      ERR_clear_error();
      return {{}, make_error_code(tls_errc::bad_key_pair)};
    }
  }
  ctx->ssl_ctx = std::move(c);
  Context out;
  out.ctx_ = std::move(ctx);
  return {std::move(out), {}};
}

}  // namespace gort::tls
