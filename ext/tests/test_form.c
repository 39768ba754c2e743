/* test_form.c - unit tests for the multipart form builder (form.c).
 *
 * What a build measures and refuses, and that every failure leaves no
 * memory or descriptor behind (allocation failure injection, the lowest
 * free descriptor).  What libcurl sends of a form is tested over a socket
 * in test_http.c.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "check.h"
#include "error.h"
#include "form.h"

static CURL *easy;
static char dir[256];
static char file_a[300];
static char file_b[300];

/* The descriptor the next open() gets: it grows when one leaks. */
static int
lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        close(fd);
    }
    return fd;
}

static int
write_file(const char *path, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return 0;
    }
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        ok = fputc((int)(i % 256), f) != EOF;
    }
    return fclose(f) == 0 && ok;
}

static void
test_build_measures_files_and_data(void)
{
    struct kimi_form_part parts[3] = {
        {.name = "file", .filename = "a.bin", .path = file_a},
        {.name = "purpose", .data = "file-extract", .data_len = 12},
        {.name = "other", .content_type = "text/plain", .path = file_b},
    };
    struct kimi_form f;
    struct kimi_error err;
    int fd = lowest_free_fd();

    kimi_error_clear(&err);
    CHECK(kimi_form_build(&f, easy, parts, 3, &err) == KIMI_OK);
    CHECK(f.mime != NULL);
    CHECK(f.n_files == 2);
    CHECK(f.files[0].size == 1000 && f.files[1].size == 70000);
    CHECK(f.files[0].offset == 0 && f.files[0].fd >= 0);
    CHECK_STR(f.files[1].path, file_b);
    CHECK(f.payload == 1000 + 12 + 70000);
    CHECK(f.failed == 0);
    CHECK(lowest_free_fd() != fd);      /* the files are open */
    kimi_form_free(&f);
    CHECK(f.mime == NULL && f.files == NULL && f.n_files == 0);
    kimi_form_free(&f);                 /* idempotent */
    CHECK(lowest_free_fd() == fd);

    /* An empty in-memory part (no data pointer) is a part too. */
    struct kimi_form_part empty = {.name = "blank"};
    CHECK(kimi_form_build(&f, easy, &empty, 1, &err) == KIMI_OK);
    CHECK(f.payload == 0 && f.n_files == 0 && f.mime != NULL);
    kimi_form_free(&f);

    struct kimi_form zeroed;
    memset(&zeroed, 0, sizeof(zeroed));
    kimi_form_free(&zeroed);
    CHECK(zeroed.mime == NULL);
}

static void
test_unreadable_paths_are_file_errors_naming_the_path(void)
{
    char missing[320];
    snprintf(missing, sizeof(missing), "%s/missing.pdf", dir);
    struct kimi_form_part parts[2] = {
        {.name = "file", .path = file_a},
        {.name = "file2", .path = missing},
    };
    struct kimi_form f;
    struct kimi_error err;
    int fd = lowest_free_fd();

    kimi_error_clear(&err);
    CHECK(kimi_form_build(&f, easy, parts, 2, &err) == KIMI_EFILE);
    CHECK(err.status == KIMI_EFILE && err.sys_errno == ENOENT);
    CHECK(strstr(err.message, "cannot open") != NULL);
    CHECK(strstr(err.message, missing) != NULL);
    CHECK(strstr(err.message, "No such file") != NULL);
    CHECK(f.mime == NULL && f.files == NULL);
    CHECK(lowest_free_fd() == fd);      /* file_a was closed again */

    kimi_error_clear(&err);
    parts[1].path = dir;
    CHECK(kimi_form_build(&f, easy, parts, 2, &err) == KIMI_EFILE);
    CHECK(err.sys_errno == EISDIR);
    CHECK(strstr(err.message, dir) != NULL);

    kimi_error_clear(&err);
    parts[1].path = "/dev/null";        /* no size of its own */
    CHECK(kimi_form_build(&f, easy, parts, 2, &err) == KIMI_EFILE);
    CHECK(err.sys_errno == 0);
    CHECK(strstr(err.message, "not a regular file") != NULL);

    if (geteuid() != 0) {               /* root reads anything */
        kimi_error_clear(&err);
        CHECK(chmod(file_b, 0) == 0);
        parts[1].path = file_b;
        CHECK(kimi_form_build(&f, easy, parts, 2, &err) == KIMI_EFILE);
        CHECK(err.sys_errno == EACCES);
        CHECK(chmod(file_b, 0600) == 0);
    }
    CHECK(lowest_free_fd() == fd);
}

static void
test_parts_without_a_name_or_with_two_sources_are_refused(void)
{
    struct kimi_form_part nameless = {.data = "x", .data_len = 1};
    struct kimi_form_part both = {
        .name = "file", .data = "x", .data_len = 1, .path = file_a};
    struct kimi_form f;
    struct kimi_error err;

    kimi_error_clear(&err);
    CHECK(kimi_form_build(&f, easy, &nameless, 1, &err) == KIMI_EINVAL);
    CHECK(strstr(err.message, "no name") != NULL);
    CHECK(f.mime == NULL);
    CHECK(kimi_form_build(&f, easy, &both, 1, &err) == KIMI_EINVAL);
    CHECK(strstr(err.message, "'file'") != NULL);
    CHECK(f.mime == NULL);
}

/* Every allocation of a build failing in turn: ENOMEM, nothing kept
 * (ASan and valgrind see the memory, the lowest descriptor the files). */
static void
test_failed_allocations_leave_nothing_behind(void)
{
    struct kimi_form_part parts[3] = {
        {.name = "a", .path = file_a},
        {.name = "b", .data = "bytes", .data_len = 5},
        {.name = "c", .path = file_b},
    };
    struct kimi_form f;
    struct kimi_error err;
    int fd = lowest_free_fd();
    int failures = 0;

    for (long n = 1; n < 20; n++) {
        kimi_error_clear(&err);
        kimi_alloc_fail_after(n);
        enum kimi_status st = kimi_form_build(&f, easy, parts, 3, &err);
        kimi_alloc_fail_after(0);
        if (st == KIMI_OK) {
            kimi_form_free(&f);
            break;
        }
        failures++;
        CHECK(st == KIMI_ENOMEM);
        CHECK(f.mime == NULL && f.files == NULL);
        CHECK(lowest_free_fd() == fd);
    }
    CHECK(failures == 3);   /* the files array and the two paths */
}

int
main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/kimi-test-form-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK
        || mkdtemp(dir) == NULL) {
        fprintf(stderr, "test_form: cannot set up\n");
        return 2;
    }
    snprintf(file_a, sizeof(file_a), "%s/a.bin", dir);
    snprintf(file_b, sizeof(file_b), "%s/b.txt", dir);
    easy = curl_easy_init();
    if (easy == NULL || !write_file(file_a, 1000)
        || !write_file(file_b, 70000)) {
        fprintf(stderr, "test_form: cannot set up\n");
        return 2;
    }

    test_build_measures_files_and_data();
    test_unreadable_paths_are_file_errors_naming_the_path();
    test_parts_without_a_name_or_with_two_sources_are_refused();
    test_failed_allocations_leave_nothing_behind();

    curl_easy_cleanup(easy);
    unlink(file_a);
    unlink(file_b);
    rmdir(dir);
    curl_global_cleanup();
    return check_report("form");
}
