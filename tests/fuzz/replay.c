/* replay.c - runs one harness on every file of the directories given on its
 * command line (the seed corpus and the inputs that once failed), so the
 * corpus is part of the ordinary test suites without clang or libFuzzer.
 * Exit status 0 when every input went through (a crash or a sanitizer report
 * ends it otherwise); it prints how many files it ran. */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 1 << 16, len = 0, n;
    uint8_t *buf = malloc(cap);
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (!buf)
        return -1;
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;
    for (int a = 1; a < argc; a++) {
        struct dirent **list;
        int n = scandir(argv[a], &list, NULL, alphasort);
        if (n < 0) {
            fprintf(stderr, "replay: cannot read %s\n", argv[a]);
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (list[i]->d_name[0] != '.') {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[a], list[i]->d_name);
                if (run_file(path) != 0) {
                    fprintf(stderr, "replay: cannot read %s\n", path);
                    return 1;
                }
                files++;
            }
            free(list[i]);
        }
        free(list);
    }
    unlink(fuzz_file((const uint8_t *)"", 0));
    printf("replay: %d inputs\n", files);
    return files > 0 ? 0 : 1;
}
