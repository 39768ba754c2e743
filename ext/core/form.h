/* form.h - a multipart/form-data body for one easy handle, files streamed
 * from disk.
 *
 * kimi_form_build turns an array of parts into a curl_mime that libcurl
 * encodes as it sends; the boundary and the Content-Type header are
 * libcurl's.  An in-memory part is copied by libcurl.  A file part is
 * opened and measured here, before anything is sent, and then read in
 * pieces as libcurl asks for them, so a file is never held in memory.
 * What was measured is what is sent: a file that grows meanwhile is cut
 * at that size, and one that shrinks stops the upload with KIMI_EFILE
 * (kept in the form's failure) instead of leaving the server waiting for
 * bytes that never come.  A file removed after the build is still read
 * whole: it is open.
 *
 * Ownership: the form owns the mime and the files' descriptors; the parts
 * are read during kimi_form_build only.  Not thread-safe: the form is used
 * by the thread stepping its transfer.  Errors: KIMI_EFILE (naming the
 * path, with errno in err->sys_errno), KIMI_EINVAL, KIMI_ENOMEM.
 */
#ifndef KIMI_FORM_H
#define KIMI_FORM_H

#include <curl/curl.h>
#include <stddef.h>

#include "error.h"

struct kimi_form_part {
    const char *name;
    const char *filename;       /* NULL: none */
    const char *content_type;   /* NULL: libcurl's default (a guess from
                                   the filename's extension, else none) */
    const char *data;           /* in-memory part; may be NULL when path
                                   is set (or data_len is 0) */
    size_t data_len;
    const char *path;           /* non-NULL: stream this file from disk */
};

struct kimi_form;

/* One file part as libcurl reads it. */
struct kimi_form_file {
    struct kimi_form *form;     /* where a failed read is recorded */
    int fd;                     /* -1: not open */
    curl_off_t size;            /* measured when opened: what is sent */
    curl_off_t offset;          /* the next byte libcurl reads */
    char *path;                 /* copied, for messages */
};

struct kimi_form {
    curl_mime *mime;
    struct kimi_form_file *files;
    size_t n_files;
    curl_off_t payload;         /* bytes of the parts' data and files,
                                   without libcurl's framing */
    int failed;                 /* a file read stopped the upload */
    struct kimi_error failure;  /* why */
};

/* Build f (need not be zeroed) for easy from n parts (n > 0).  On failure
 * f is left freed and err says why. */
KIMI_MUST_CHECK enum kimi_status
kimi_form_build(struct kimi_form *f, CURL *easy,
                const struct kimi_form_part *parts, size_t n,
                struct kimi_error *err);

/* Free the mime and close the files.  Idempotent; safe on zeroed memory.
 * The easy handle must not be sending the form any more. */
void kimi_form_free(struct kimi_form *f);

#endif
