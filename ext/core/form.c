/* form.c - multipart parts as a curl_mime; files read as libcurl sends.
 *
 * A file part is libcurl's callback kind, not curl_mime_filedata: libcurl
 * opens a file of its own only at the first read and takes a short read
 * for the end of the part, so a file that shrank would leave the body
 * shorter than its Content-Length and the server waiting.  Here the file
 * is opened before sending and a short read is an error.
 */
#include "form.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"

/* Record a failure about a file, with its errno (0: none). */
static enum kimi_status
file_error(struct kimi_error *err, int sys_errno, const char *what,
           const char *path)
{
    char text[96] = "";
    const char *why = sys_errno != 0
                          ? strerror_r(sys_errno, text, sizeof(text))
                          : NULL;
    if (err != NULL) {
        err->sys_errno = sys_errno;
    }
    return kimi_error_set(err, KIMI_EFILE, "upload: %s '%.300s'%s%s", what,
                          path, why != NULL ? ": " : "",
                          why != NULL ? why : "");
}

static size_t
read_file(char *buffer, size_t size, size_t nitems, void *arg)
{
    struct kimi_form_file *file = arg;
    curl_off_t left = file->size - file->offset;
    size_t want = size * nitems;
    if (left <= 0 || want == 0) {
        return 0;
    }
    if ((curl_off_t)want > left) {
        want = (size_t)left;
    }
    ssize_t got;
    do {
        got = pread(file->fd, buffer, want, (off_t)file->offset);
    } while (got < 0 && errno == EINTR);
    if (got > 0) {
        file->offset += got;
        return (size_t)got;
    }
    struct kimi_form *f = file->form;
    if (got == 0) {
        f->failure.sys_errno = 0;
        kimi_error_set(&f->failure, KIMI_EFILE,
                       "upload: '%.300s' shrank while it was sent (%lld of "
                       "its %lld bytes could be read)", file->path,
                       (long long)file->offset, (long long)file->size);
    }
    else {
        file_error(&f->failure, errno, "cannot read", file->path);
    }
    f->failed = 1;
    return CURL_READFUNC_ABORT;
}

/* libcurl rewinds a part when it sends the body again (a redirect, an
 * authentication round, a connection found dead). */
static int
seek_file(void *arg, curl_off_t offset, int origin)
{
    struct kimi_form_file *file = arg;
    if (origin != SEEK_SET || offset < 0 || offset > file->size) {
        return CURL_SEEKFUNC_CANTSEEK;
    }
    file->offset = offset;
    return CURL_SEEKFUNC_OK;
}

static enum kimi_status
open_file(struct kimi_form_file *file, struct kimi_form *f, const char *path,
          struct kimi_error *err)
{
    file->form = f;
    file->fd = -1;
    size_t len = strlen(path);
    file->path = kimi_malloc(len + 1);
    if (file->path == NULL) {
        return kimi_error_set(err, KIMI_ENOMEM, "upload: out of memory");
    }
    memcpy(file->path, path, len + 1);
    file->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (file->fd < 0) {
        return file_error(err, errno, "cannot open", path);
    }
    struct stat info;
    if (fstat(file->fd, &info) != 0) {
        return file_error(err, errno, "cannot stat", path);
    }
    /* Only a regular file has a size to put in Content-Length. */
    if (S_ISDIR(info.st_mode)) {
        return file_error(err, EISDIR, "cannot send", path);
    }
    if (!S_ISREG(info.st_mode)) {
        return file_error(err, 0, "not a regular file:", path);
    }
    file->size = (curl_off_t)info.st_size;
    return KIMI_OK;
}

static enum kimi_status
curl_failed(CURLcode code, const char *what, struct kimi_error *err)
{
    return kimi_error_set(err, code == CURLE_OUT_OF_MEMORY ? KIMI_ENOMEM
                                                           : KIMI_EINVAL,
                          "upload: %s: %s", what, curl_easy_strerror(code));
}

static enum kimi_status
add_part(struct kimi_form *f, const struct kimi_form_part *p,
         struct kimi_error *err)
{
    if (p->name == NULL) {
        return kimi_error_set(err, KIMI_EINVAL, "upload: a part has no name");
    }
    if (p->path != NULL && (p->data != NULL || p->data_len > 0)) {
        return kimi_error_set(err, KIMI_EINVAL,
                              "upload: part '%.100s' has data and a path",
                              p->name);
    }
    curl_mimepart *part = curl_mime_addpart(f->mime);
    if (part == NULL) {
        return kimi_error_set(err, KIMI_ENOMEM, "upload: out of memory");
    }
    /* Each setter copies its string. */
    CURLcode code = curl_mime_name(part, p->name);
    if (code == CURLE_OK && p->filename != NULL) {
        code = curl_mime_filename(part, p->filename);
    }
    if (code == CURLE_OK && p->content_type != NULL) {
        code = curl_mime_type(part, p->content_type);
    }
    if (code != CURLE_OK) {
        return curl_failed(code, "a part's name or type", err);
    }
    if (p->path == NULL) {
        f->payload += (curl_off_t)p->data_len;
        code = curl_mime_data(part, p->data != NULL ? p->data : "",
                              p->data_len);
        return code == CURLE_OK ? KIMI_OK
                                : curl_failed(code, "a part's data", err);
    }
    struct kimi_form_file *file = &f->files[f->n_files];
    f->n_files++;
    enum kimi_status st = open_file(file, f, p->path, err);
    if (st != KIMI_OK) {
        return st;
    }
    f->payload += file->size;
    code = curl_mime_data_cb(part, file->size, read_file, seek_file, NULL,
                             file);
    return code == CURLE_OK ? KIMI_OK : curl_failed(code, "a file part", err);
}

enum kimi_status
kimi_form_build(struct kimi_form *f, CURL *easy,
                const struct kimi_form_part *parts, size_t n,
                struct kimi_error *err)
{
    memset(f, 0, sizeof(*f));
    size_t n_paths = 0;
    for (size_t i = 0; i < n; i++) {
        n_paths += parts[i].path != NULL;
    }
    enum kimi_status st = KIMI_OK;
    if (n_paths > 0) {
        f->files = kimi_calloc(n_paths, sizeof(*f->files));
        if (f->files == NULL) {
            st = kimi_error_set(err, KIMI_ENOMEM, "upload: out of memory");
        }
    }
    if (st == KIMI_OK) {
        f->mime = curl_mime_init(easy);
        if (f->mime == NULL) {
            st = kimi_error_set(err, KIMI_ENOMEM, "upload: out of memory");
        }
    }
    for (size_t i = 0; i < n && st == KIMI_OK; i++) {
        st = add_part(f, &parts[i], err);
    }
    if (st != KIMI_OK) {
        kimi_form_free(f);
    }
    return st;
}

void
kimi_form_free(struct kimi_form *f)
{
    curl_mime_free(f->mime);
    f->mime = NULL;
    for (size_t i = 0; i < f->n_files; i++) {
        if (f->files[i].fd >= 0) {
            close(f->files[i].fd);
        }
        kimi_free(f->files[i].path);
    }
    kimi_free(f->files);
    f->files = NULL;
    f->n_files = 0;
}
