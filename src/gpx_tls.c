/* gpx_tls.c - PEM files checked with GnuTLS (see gpx_tls.h). */
#define _GNU_SOURCE
#include "gpx_tls.h"

#include <dirent.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpx_file.h"

/* A PEM file, whole. */
static char *
read_pem(const char *path, size_t *len, char *why, size_t whylen)
{
    return gpx_file_read(path, GPX_TLS_FILE_MAX, len, why, whylen);
}

/* The number of PEM certificates in text, or a GnuTLS error (< 0). */
static int
count_certificates(const char *text, size_t len)
{
    gnutls_datum_t data = {(unsigned char *)(uintptr_t)text, (unsigned int)len};
    gnutls_x509_crt_t *list = NULL;
    unsigned int n = 0, i;
    int rc = gnutls_x509_crt_list_import2(&list, &n, &data, GNUTLS_X509_FMT_PEM, 0);

    if (rc < 0) {
        return rc;
    }
    for (i = 0; i < n; i++) {
        gnutls_x509_crt_deinit(list[i]);
    }
    gnutls_free(list);
    return (int)n;
}

/* Appends `len` bytes of PEM text to the NUL-terminated *all of *all_len
 * bytes (or NULL), on a line of its own: a file may end without a newline.
 * Returns 0, or -1 when memory ran out. */
static int
append_pem(char **all, size_t *all_len, const char *text, size_t len)
{
    char *grown = realloc(*all, *all_len + len + 2);

    if (grown == NULL) {
        return -1;
    }
    if (*all_len > 0 && grown[*all_len - 1] != '\n') {
        grown[(*all_len)++] = '\n';
    }
    memcpy(grown + *all_len, text, len);
    *all_len += len;
    grown[*all_len] = '\0';
    *all = grown;
    return 0;
}

/* Every PEM certificate of the directory, appended to *all. Returns the
 * number of certificates, or -1 with why set. */
static int
read_capath(const char *dir, char **all, size_t *all_len, char *why, size_t whylen)
{
    struct dirent **names = NULL;
    struct {
        dev_t dev;
        ino_t ino;
    } * seen;
    int n = scandir(dir, &names, NULL, alphasort);
    int i, seen_count = 0, certificates = 0;
    size_t read_total = 0;

    if (n < 0) {
        snprintf(why, whylen, "cannot read it: %s", strerror(errno));
        return -1;
    }
    seen = calloc((size_t)n + 1, sizeof(*seen));
    if (n > GPX_TLS_CAPATH_FILES || seen == NULL) {
        snprintf(why, whylen, n > GPX_TLS_CAPATH_FILES ? "more than %d files in it" : "out of memory",
                 GPX_TLS_CAPATH_FILES);
        certificates = -1;
    }
    for (i = 0; i < n && certificates >= 0; i++) {
        char path[4096], file_why[256];
        struct stat st;
        size_t len;
        char *text;
        int j, rc;

        /* Hidden files are not CAs; links (c_rehash's <hash>.0) are
         * followed, and a file reached twice is read once. */
        if (names[i]->d_name[0] == '.' ||
            (size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) >= sizeof(path) ||
            stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        for (j = 0; j < seen_count && (seen[j].dev != st.st_dev || seen[j].ino != st.st_ino); j++) {
        }
        if (j < seen_count) {
            continue;
        }
        seen[seen_count].dev = st.st_dev;
        seen[seen_count++].ino = st.st_ino;
        text = read_pem(path, &len, file_why, sizeof(file_why));
        if (text == NULL) {
            snprintf(why, whylen, "%.100s: %.120s", names[i]->d_name, file_why);
            certificates = -1;
            break;
        }
        rc = strstr(text, "-----BEGIN CERTIFICATE-----") != NULL ? count_certificates(text, len) : 0;
        read_total += rc > 0 ? len : 0;
        if (rc < 0) {
            snprintf(why, whylen, "%.100s: %.120s", names[i]->d_name, gnutls_strerror(rc));
            certificates = -1;
        } else if (read_total > GPX_TLS_CAPATH_MAX) {
            snprintf(why, whylen, "more than %d bytes of certificates in it", GPX_TLS_CAPATH_MAX);
            certificates = -1;
        } else if (rc > 0 && append_pem(all, all_len, text, len) != 0) {
            snprintf(why, whylen, "out of memory");
            certificates = -1;
        } else {
            certificates += rc;
        }
        free(text);
    }
    for (i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    free(seen);
    if (certificates == 0) {
        snprintf(why, whylen, "no PEM certificate in it");
        return -1;
    }
    return certificates;
}

/* The certificate chain and its key, as a handshake is served them. */
struct credential {
    gnutls_pcert_st *pcerts;
    unsigned int count;
    gnutls_privkey_t key;
};

static void
credential_free(struct credential *c)
{
    unsigned int i;

    if (c == NULL) {
        return;
    }
    for (i = 0; i < c->count; i++) {
        gnutls_pcert_deinit(&c->pcerts[i]);
    }
    free(c->pcerts);
    if (c->key != NULL) {
        gnutls_privkey_deinit(c->key);
    }
    free(c);
}

/* Returns the credential, or NULL with rc set to a GnuTLS error. */
static struct credential *
credential_new(const gnutls_datum_t *cert, const gnutls_datum_t *key, unsigned int count, int *rc)
{
    struct credential *c = calloc(1, sizeof(*c));

    *rc = GNUTLS_E_MEMORY_ERROR;
    if (c == NULL || (c->pcerts = calloc(count, sizeof(*c->pcerts))) == NULL) {
        free(c);
        return NULL;
    }
    c->count = count;
    *rc = gnutls_pcert_list_import_x509_raw(c->pcerts, &c->count, cert, GNUTLS_X509_FMT_PEM, 0);
    if (*rc < 0) {
        c->count = 0;
        credential_free(c);
        return NULL;
    }
    *rc = gnutls_privkey_init(&c->key);
    if (*rc >= 0) {
        *rc = gnutls_privkey_import_x509_raw(c->key, key, GNUTLS_X509_FMT_PEM, NULL, 0);
    }
    if (*rc < 0) {
        credential_free(c);
        return NULL;
    }
    return c;
}

/* "NORMAL" with only the versions from min to max (10 = TLS 1.0 ... 13). */
static void
priorities_of(char *buf, size_t len, int min, int max)
{
    size_t n = (size_t)snprintf(buf, len, "NORMAL:-VERS-ALL");
    int v;

    for (v = max; v >= min && n < len; v--) {
        n += (size_t)snprintf(buf + n, len - n, ":+VERS-TLS1.%d", v - 10);
    }
}

static int
load_error(struct gpx_tls *tls, char *err, size_t errlen, const struct gpx_config *cfg, enum gpx_option_id id,
           const char *path, const char *expected, const char *why)
{
    char text[512];

    snprintf(text, sizeof(text), "%s (%s)", expected, why);
    gpx_config_error(err, errlen, cfg, id, path, text);
    gpx_tls_free(tls);
    return -1;
}

int
gpx_tls_load(struct gpx_tls *tls, const struct gpx_config *cfg, char *err, size_t errlen)
{
    static const char cert_expected[] = "a readable PEM file with the server's certificate (chain)";
    static const char key_expected[] = "a readable PEM file with the certificate's unencrypted private key";
    static const char ca_expected[] = "a readable PEM file with the CA certificates that sign client certificates";
    static const char capath_expected[] =
        "a readable directory of PEM files with the CA certificates that sign client certificates";
    gnutls_certificate_credentials_t cred;
    gnutls_datum_t cert, key;
    char why[256];
    size_t cert_len, key_len, ca_len = 0;
    int rc;

    memset(tls, 0, sizeof(*tls));
    if (cfg->ssl_certfile[0] == '\0') {
        return 0;
    }
    tls->cert_pem = read_pem(cfg->ssl_certfile, &cert_len, why, sizeof(why));
    if (tls->cert_pem == NULL) {
        return load_error(tls, err, errlen, cfg, GPX_OPT_SSL_CERTFILE, cfg->ssl_certfile, cert_expected, why);
    }
    rc = count_certificates(tls->cert_pem, cert_len);
    if (rc <= 0) {
        return load_error(tls, err, errlen, cfg, GPX_OPT_SSL_CERTFILE, cfg->ssl_certfile, cert_expected,
                          rc < 0 ? gnutls_strerror(rc) : "no certificate in it");
    }
    tls->key_pem = read_pem(cfg->ssl_keyfile, &key_len, why, sizeof(why));
    if (tls->key_pem == NULL) {
        return load_error(tls, err, errlen, cfg, GPX_OPT_SSL_KEYFILE, cfg->ssl_keyfile, key_expected, why);
    }
    /* What libmicrohttpd will do with the pair: a key that is not the
     * certificate's, or that cannot be read, is refused here. */
    if (gnutls_certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS) {
        return load_error(tls, err, errlen, cfg, GPX_OPT_SSL_KEYFILE, cfg->ssl_keyfile, key_expected, "out of memory");
    }
    cert.data = (unsigned char *)tls->cert_pem;
    cert.size = (unsigned int)cert_len;
    key.data = (unsigned char *)tls->key_pem;
    key.size = (unsigned int)key_len;
    rc = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_certificate_free_credentials(cred);
    if (rc < 0) {
        return load_error(tls, err, errlen, cfg, GPX_OPT_SSL_KEYFILE, cfg->ssl_keyfile, key_expected,
                          gnutls_strerror(rc));
    }
    tls->credential = credential_new(&cert, &key, (unsigned int)count_certificates(tls->cert_pem, cert_len), &rc);
    if (tls->credential == NULL) {
        return load_error(tls, err, errlen, cfg, GPX_OPT_SSL_KEYFILE, cfg->ssl_keyfile, key_expected,
                          gnutls_strerror(rc));
    }
    {
        gnutls_priority_t prio;
        int min = gpx_tls_version_number(cfg->ssl_min_version);
        int max = cfg->ssl_max_version[0] != '\0' ? gpx_tls_version_number(cfg->ssl_max_version) : 13;
        const char *where = NULL;

        priorities_of(tls->priorities, sizeof(tls->priorities), min > 0 ? min : 12, max > 0 ? max : 13);
        rc = gnutls_priority_init(&prio, tls->priorities, &where);
        if (rc < 0) {
            return load_error(tls, err, errlen, cfg, GPX_OPT_SSL_MIN_VERSION, cfg->ssl_min_version,
                              "a TLS version this GnuTLS serves", gnutls_strerror(rc));
        }
        gnutls_priority_deinit(prio);
    }
    tls->allowed_sans = cfg->ssl_client_allowed_sans;
    if (cfg->ssl_client_cafile[0] != '\0') {
        tls->client_ca_pem = read_pem(cfg->ssl_client_cafile, &ca_len, why, sizeof(why));
        if (tls->client_ca_pem == NULL) {
            return load_error(tls, err, errlen, cfg, GPX_OPT_SSL_CLIENT_CAFILE, cfg->ssl_client_cafile, ca_expected,
                              why);
        }
        rc = count_certificates(tls->client_ca_pem, ca_len);
        if (rc <= 0) {
            return load_error(tls, err, errlen, cfg, GPX_OPT_SSL_CLIENT_CAFILE, cfg->ssl_client_cafile, ca_expected,
                              rc < 0 ? gnutls_strerror(rc) : "no certificate in it");
        }
    }
    if (cfg->ssl_client_capath[0] != '\0' &&
        read_capath(cfg->ssl_client_capath, &tls->client_ca_pem, &ca_len, why, sizeof(why)) < 0) {
        return load_error(tls, err, errlen, cfg, GPX_OPT_SSL_CLIENT_CAPATH, cfg->ssl_client_capath, capath_expected,
                          why);
    }
    if (tls->client_ca_pem != NULL) {
        gnutls_x509_trust_list_t trust;
        gnutls_datum_t ca = {(unsigned char *)tls->client_ca_pem, (unsigned int)strlen(tls->client_ca_pem)};

        rc = gnutls_x509_trust_list_init(&trust, 0);
        if (rc >= 0) {
            tls->trust = trust;
            rc = gnutls_x509_trust_list_add_trust_mem(trust, &ca, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
        }
        if (rc < 0) {
            return load_error(tls, err, errlen, cfg, GPX_OPT_SSL_CLIENT_CAFILE, cfg->ssl_client_cafile, ca_expected,
                              gnutls_strerror(rc));
        }
    }
    tls->client_cert_required = tls->client_ca_pem != NULL && cfg->ssl_client_auth_required;
    return 0;
}

void
gpx_tls_free(struct gpx_tls *tls)
{
    if (tls->key_pem != NULL) {
        memset(tls->key_pem, 0, strlen(tls->key_pem));
    }
    free(tls->cert_pem);
    free(tls->key_pem);
    free(tls->client_ca_pem);
    credential_free(tls->credential);
    if (tls->trust != NULL) {
        gnutls_x509_trust_list_deinit(tls->trust, 1);
    }
    memset(tls, 0, sizeof(*tls));
}

/* Whether `name` (len bytes) is one of the comma-separated allowed names.
 * DNS names compare without case (DNS has none), the others exactly. */
static int
name_allowed(const char *allowed, const char *name, size_t len, int dns)
{
    const char *p = allowed;

    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);

        if (n == len && (dns ? strncasecmp(p, name, len) == 0 : memcmp(p, name, len) == 0)) {
            return 1;
        }
        p += n + (comma != NULL);
    }
    return 0;
}

/* Whether the certificate carries one of the allowed subject alternative
 * names: DNS, e-mail (RFC 822), URI or IP address (written as inet_ntop
 * writes it). */
static int
sans_allowed(gnutls_x509_crt_t crt, const char *allowed)
{
    unsigned int i;

    for (i = 0;; i++) {
        char name[1024], ip[INET6_ADDRSTRLEN];
        size_t size = sizeof(name) - 1;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, i, name, &size, NULL);

        if (type == GNUTLS_E_SHORT_MEMORY_BUFFER) {
            continue; /* longer than any name worth allowing */
        }
        if (type < 0) {
            return 0;
        }
        if (type == GNUTLS_SAN_IPADDRESS) {
            if ((size != 4 && size != 16) || inet_ntop(size == 4 ? AF_INET : AF_INET6, name, ip, sizeof(ip)) == NULL) {
                continue;
            }
            if (name_allowed(allowed, ip, strlen(ip), 0)) {
                return 1;
            }
        } else if ((type == GNUTLS_SAN_DNSNAME || type == GNUTLS_SAN_RFC822NAME || type == GNUTLS_SAN_URI) &&
                   memchr(name, '\0', size) == NULL && name_allowed(allowed, name, size, type == GNUTLS_SAN_DNSNAME)) {
            return 1;
        }
    }
}

#define PEER_CHAIN_MAX 16

enum gpx_tls_peer
gpx_tls_peer_check(const struct gpx_tls *tls, void *session)
{
    gnutls_session_t s = session;
    gnutls_x509_crt_t chain[PEER_CHAIN_MAX];
    const gnutls_datum_t *raw;
    unsigned int status = 1, count = 0, n = 0, i;
    enum gpx_tls_peer peer = GPX_TLS_PEER_REJECTED;

    if (s == NULL || (raw = gnutls_certificate_get_peers(s, &count)) == NULL || count == 0) {
        return GPX_TLS_PEER_NONE;
    }
    if (tls == NULL || tls->trust == NULL || count > PEER_CHAIN_MAX) {
        return GPX_TLS_PEER_REJECTED;
    }
    for (n = 0; n < count; n++) {
        if (gnutls_x509_crt_init(&chain[n]) < 0) {
            break;
        }
        if (gnutls_x509_crt_import(chain[n], &raw[n], GNUTLS_X509_FMT_DER) < 0) {
            gnutls_x509_crt_deinit(chain[n]);
            break;
        }
    }
    /* The client CAs of the struct in use, not of the handshake's
     * credentials: they are read again when their files change. */
    if (n == count && gnutls_x509_trust_list_verify_crt(tls->trust, chain, n, 0, &status, NULL) == 0 && status == 0) {
        peer = tls->allowed_sans == NULL || tls->allowed_sans[0] == '\0' || sans_allowed(chain[0], tls->allowed_sans)
                   ? GPX_TLS_PEER_VERIFIED
                   : GPX_TLS_PEER_NOT_ALLOWED;
    }
    for (i = 0; i < n; i++) {
        gnutls_x509_crt_deinit(chain[i]);
    }
    return peer;
}

static gpx_tls_current_fn retrieve_current;
static void *retrieve_ctx;

static int
retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs, const gnutls_pk_algorithm_t *pk_algos,
         int pk_algos_length, gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    const struct gpx_tls *tls = retrieve_current != NULL ? retrieve_current(retrieve_ctx) : NULL;
    const struct credential *c = tls != NULL ? tls->credential : NULL;

    (void)session;
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    if (c == NULL) {
        return -1;
    }
    *pcert = c->pcerts;
    *pcert_length = c->count;
    *pkey = c->key;
    return 0;
}

void *
gpx_tls_retrieve_function(gpx_tls_current_fn current, void *ctx)
{
    gnutls_certificate_retrieve_function2 *fn = retrieve;
    void *p;

    retrieve_current = current;
    retrieve_ctx = ctx;
    memcpy(&p, &fn, sizeof(p));
    return p;
}
