/* gpx_tls.c - PEM files checked with GnuTLS (see gpx_tls.h). */
#define _GNU_SOURCE
#include "gpx_tls.h"

#include <dirent.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    memset(tls, 0, sizeof(*tls));
}

enum gpx_tls_peer
gpx_tls_peer_check(void *session)
{
    gnutls_session_t s = session;
    unsigned int status = 0, count = 0;

    if (s == NULL || gnutls_certificate_get_peers(s, &count) == NULL || count == 0) {
        return GPX_TLS_PEER_NONE;
    }
    return gnutls_certificate_verify_peers2(s, &status) == GNUTLS_E_SUCCESS && status == 0 ? GPX_TLS_PEER_VERIFIED
                                                                                           : GPX_TLS_PEER_REJECTED;
}
