/* embed.c - a build tool: turns a text file into a C array of its lines,
 *   static const char *const NAME[] = {"line\n", ..., NULL};
 * so netc can copy support code (infer_kernels.c, infer_main.c) into the
 * files it writes. Usage: embed NAME IN OUT. */
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: embed NAME IN OUT\n");
        return 2;
    }
    FILE *in = fopen(argv[2], "r"), *out = fopen(argv[3], "w");
    if (!in || !out) {
        perror("embed");
        return 1;
    }
    fprintf(out, "/* generated from %s by embed.c */\nstatic const char *const %s[] = {\n",
            argv[2], argv[1]);
    int c, bol = 1;
    while ((c = fgetc(in)) != EOF) {
        if (bol)
            fputs("    \"", out);
        bol = 0;
        if (c == '\n') {
            fputs("\\n\",\n", out);
            bol = 1;
        } else if (c == '\\' || c == '"') {
            fprintf(out, "\\%c", c);
        } else if (c < 32 || c > 126) {
            fprintf(out, "\\%03o", c);
        } else {
            fputc(c, out);
        }
    }
    if (!bol)
        fputs("\\n\",\n", out);
    fputs("    NULL,\n};\n", out);
    return fclose(out) != 0 || ferror(in);
}
