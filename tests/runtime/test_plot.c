/* test_plot.c - nt_plot_svg (plot.c): the SVG is well-formed XML (checked by
 * a small structural parser below), has the curves, legend, labels and
 * ticks, escapes text, and copes with single points, flat and non-finite
 * data. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nt_io.h"
#include "testutil.h"

/* Check's 4 s default is too short under valgrind. */
#define TIMEOUT 120

/* ---- helpers ------------------------------------------------------------- */


static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    ck_assert_int_ge(len, 0);
    rewind(f);
    char *buf = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/* ---- a structural XML check ---------------------------------------------- */

typedef struct xml_stats {
    int elements, polylines, circles, texts, dashed;
    char texts_joined[4096]; /* the decoded content of <text>, '|'-separated */
} xml_stats;

/* Checks an entity reference at *p ('&'), appending its character to out. */
static const char *xml_entity(const char *p, char *out, size_t *len,
                              size_t cap)
{
    static const struct {
        const char *name;
        char c;
    } entities[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'},
                    {"&quot;", '"'}, {"&apos;", '\''}};
    for (size_t i = 0; i < 5; i++) {
        size_t n = strlen(entities[i].name);
        if (strncmp(p, entities[i].name, n) == 0) {
            if (out && *len + 1 < cap)
                out[(*len)++] = entities[i].c;
            return p + n;
        }
    }
    ck_abort_msg("bad entity at \"%.12s\"", p);
    return NULL;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == ':' ||
           c == '.';
}

/* Parses the whole document; fails the test on anything malformed. */
static void check_xml(const char *doc, xml_stats *st)
{
    memset(st, 0, sizeof *st);
    char stack[32][32];
    int depth = 0, roots = 0, in_text = 0;
    size_t tlen = 0;
    const char *p = doc;
    ck_assert_msg(strncmp(p, "<?xml ", 6) == 0, "no XML declaration");
    p = strstr(p, "?>");
    ck_assert_ptr_nonnull(p);
    p += 2;
    while (*p) {
        if (*p != '<') {
            if (depth == 0)
                ck_assert_msg(*p == ' ' || *p == '\n' || *p == '\t' ||
                                  *p == '\r',
                              "text outside the root: \"%.12s\"", p);
            if (*p == '&') {
                p = xml_entity(p, in_text ? st->texts_joined : NULL, &tlen,
                               sizeof st->texts_joined);
                continue;
            }
            if (in_text && tlen + 1 < sizeof st->texts_joined)
                st->texts_joined[tlen++] = *p;
            p++;
            continue;
        }
        if (p[1] == '/') { /* end tag */
            p += 2;
            ck_assert_msg(depth > 0, "end tag without a start tag");
            size_t n = strlen(stack[depth - 1]);
            ck_assert_msg(strncmp(p, stack[depth - 1], n) == 0 && p[n] == '>',
                          "</%.12s> does not close <%s>", p,
                          stack[depth - 1]);
            if (strcmp(stack[depth - 1], "text") == 0) {
                in_text = 0;
                if (tlen + 1 < sizeof st->texts_joined)
                    st->texts_joined[tlen++] = '|';
            }
            depth--;
            p += n + 1;
            continue;
        }
        /* start tag */
        p++;
        char name[32];
        size_t n = 0;
        while (name_char(*p) && n + 1 < sizeof name)
            name[n++] = *p++;
        name[n] = '\0';
        ck_assert_msg(n > 0, "bad tag name at \"%.12s\"", p);
        if (depth == 0) {
            roots++;
            ck_assert_str_eq(name, "svg");
        }
        st->elements++;
        st->polylines += strcmp(name, "polyline") == 0;
        st->circles += strcmp(name, "circle") == 0;
        for (;;) { /* attributes */
            while (*p == ' ' || *p == '\n')
                p++;
            if (*p == '>' || (p[0] == '/' && p[1] == '>'))
                break;
            const char *attr = p;
            while (name_char(*p))
                p++;
            ck_assert_msg(p > attr && p[0] == '=' && (p[1] == '"' ||
                                                       p[1] == '\''),
                          "bad attribute in <%s> at \"%.16s\"", name, attr);
            if (strncmp(attr, "stroke-dasharray=", 17) == 0)
                st->dashed++;
            char quote = p[1];
            p += 2;
            while (*p && *p != quote) {
                ck_assert_msg(*p != '<', "'<' in an attribute of <%s>", name);
                if (*p == '&')
                    p = xml_entity(p, NULL, NULL, 0);
                else
                    p++;
            }
            ck_assert_msg(*p == quote, "unterminated attribute in <%s>",
                          name);
            p++;
        }
        if (*p == '/') {
            p += 2;
            continue;
        }
        p++;
        ck_assert_msg(depth < 32, "too deep");
        strcpy(stack[depth++], name);
        if (strcmp(name, "text") == 0) {
            in_text = 1;
            st->texts++;
        }
    }
    ck_assert_msg(depth == 0, "<%s> is never closed",
                  depth ? stack[depth - 1] : "");
    ck_assert_int_eq(roots, 1);
    st->texts_joined[tlen] = '\0';
}

/* Whether "|label|" is among the texts (label is the decoded content). */
static int has_text(const xml_stats *st, const char *label)
{
    char want[256];
    snprintf(want, sizeof want, "|%s|", label);
    char all[sizeof st->texts_joined + 1] = "|";
    strcat(all, st->texts_joined);
    return strstr(all, want) != NULL;
}

/* ---- tests --------------------------------------------------------------- */

/* What train_ch6 plots: per-batch training points at fractional epochs, one
 * test accuracy point per epoch. */
START_TEST(test_d2l_curves)
{
    tu_tmpdir_make("plot");
    enum { EPOCHS = 10, PER_EPOCH = 5, N = EPOCHS * PER_EPOCH };
    double x[N], loss[N], acc[N], tx[EPOCHS], tacc[EPOCHS];
    for (int i = 0; i < N; i++) {
        x[i] = (i + 1) / (double)PER_EPOCH;
        loss[i] = 0.3 + 2.0 * exp(-x[i]);
        acc[i] = 0.9 - 0.8 * exp(-x[i]);
    }
    for (int e = 0; e < EPOCHS; e++) {
        tx[e] = e + 1;
        tacc[e] = 0.88 - 0.7 * exp(-tx[e]);
    }
    nt_curve curves[] = {
        {"train loss", x, loss, N, "#1f77b4", 0},
        {"train acc", x, acc, N, "#bf00bf", 1},
        {"test acc", tx, tacc, EPOCHS, "#008000", 2},
    };
    nt_error err = {""};
    const char *path = tu_tmp("curves.svg");
    ck_assert_msg(nt_plot_svg(path, NULL, "epoch", 1, EPOCHS, 0, 0, curves, 3,
                              &err) == 0, "%s", err.msg);
    char *doc = read_text(path);
    xml_stats st;
    check_xml(doc, &st);
    ck_assert_int_eq(st.polylines, 3);
    /* two dashed curves, and their two legend samples */
    ck_assert_int_eq(st.dashed, 4);
    ck_assert(has_text(&st, "train loss") && has_text(&st, "train acc") &&
              has_text(&st, "test acc") && has_text(&st, "epoch"));
    /* x ticks at matplotlib's steps for [1, 10] */
    ck_assert(has_text(&st, "2") && has_text(&st, "4") && has_text(&st, "10"));
    ck_assert(!has_text(&st, "1"));
    /* y fitted to the data: the loss's top (2.0) and the acc's bottom
     * (0.26) lie inside, with ticks at multiples of 0.5 */
    ck_assert(has_text(&st, "0.5") && has_text(&st, "2.0"));
    ck_assert(!has_text(&st, "2.5") && !has_text(&st, "0.0"));
    ck_assert_ptr_nonnull(strstr(doc, "stroke=\"#bf00bf\""));
    ck_assert_ptr_null(strstr(doc, "nan"));
    free(doc);
    ck_assert_int_eq(access(path, F_OK), 0);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_escapes_text)
{
    tu_tmpdir_make("plot");
    double x[] = {1, 2}, y[] = {0.5, 0.25};
    nt_curve c[] = {{"a<b & \"c\" 'd'", x, y, 2, NULL, 0}};
    nt_error err = {""};
    const char *path = tu_tmp("esc.svg");
    ck_assert_msg(nt_plot_svg(path, "<title> & more", "x<y", 1, 2, 0, 0, c, 1,
                              &err) == 0, "%s", err.msg);
    char *doc = read_text(path);
    xml_stats st;
    check_xml(doc, &st);
    ck_assert(has_text(&st, "a<b & \"c\" 'd'"));
    ck_assert(has_text(&st, "<title> & more"));
    ck_assert(has_text(&st, "x<y"));
    ck_assert_ptr_nonnull(strstr(doc, "a&lt;b &amp; &quot;c&quot;"));
    ck_assert_ptr_null(strstr(doc, "a<b"));
    /* a NULL colour takes matplotlib's first default colour */
    ck_assert_ptr_nonnull(strstr(doc, "stroke=\"#1f77b4\""));
    free(doc);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_edge_cases)
{
    tu_tmpdir_make("plot");
    nt_error err = {""};
    const char *path = tu_tmp("edge.svg");
    xml_stats st;

    /* a single point is a dot; one epoch is a valid x range */
    double x1[] = {1}, y1[] = {0.7};
    nt_curve one[] = {{"test acc", x1, y1, 1, "#008000", 2}};
    ck_assert_msg(nt_plot_svg(path, NULL, "epoch", 1, 1, 0, 0, one, 1, &err) ==
                      0, "%s", err.msg);
    char *doc = read_text(path);
    check_xml(doc, &st);
    ck_assert_int_eq(st.circles, 1);
    ck_assert_int_eq(st.polylines, 0);
    ck_assert_ptr_null(strstr(doc, "nan"));
    ck_assert_ptr_null(strstr(doc, "inf"));
    free(doc);

    /* all-equal values, zero included: still a range and ticks */
    static const double flat_values[] = {0.0, 0.5, -3.0};
    for (int k = 0; k < 3; k++) {
        double x[] = {1, 2, 3}, y[3];
        for (int i = 0; i < 3; i++)
            y[i] = flat_values[k];
        nt_curve flat[] = {{"flat", x, y, 3, NULL, 0}};
        ck_assert_msg(nt_plot_svg(path, NULL, "epoch", 1, 3, 0, 0, flat, 1,
                                  &err) == 0, "%s", err.msg);
        doc = read_text(path);
        check_xml(doc, &st);
        ck_assert_int_eq(st.polylines, 1);
        ck_assert_int_ge(st.texts, 5); /* x and y ticks, label, legend */
        ck_assert_ptr_null(strstr(doc, "nan"));
        ck_assert_ptr_null(strstr(doc, "inf"));
        free(doc);
    }

    /* a NaN breaks the line in two; an infinite value is skipped too */
    double x[] = {1, 2, 3, 4, 5, 6}, y[] = {1, 2, NAN, 3, 4, INFINITY};
    nt_curve broken[] = {{"loss", x, y, 6, NULL, 0}};
    ck_assert_msg(nt_plot_svg(path, NULL, "epoch", 1, 6, 0, 0, broken, 1,
                              &err) == 0, "%s", err.msg);
    doc = read_text(path);
    check_xml(doc, &st);
    ck_assert_int_eq(st.polylines, 2);
    ck_assert_ptr_null(strstr(doc, "nan"));
    free(doc);

    /* a fixed y range; no curves at all */
    ck_assert_msg(nt_plot_svg(path, "empty", "epoch", 1, 10, 0, 1, NULL, 0,
                              &err) == 0, "%s", err.msg);
    doc = read_text(path);
    check_xml(doc, &st);
    ck_assert(has_text(&st, "0.0") && has_text(&st, "1.0") &&
              has_text(&st, "0.2"));
    free(doc);
    tu_tmpdir_remove();
}
END_TEST

/* The legend goes where the data is not, like matplotlib's loc='best'. */
START_TEST(test_legend_avoids_data)
{
    tu_tmpdir_make("plot");
    nt_error err = {""};
    const char *path = tu_tmp("legend.svg");
    double x[20], up[20];
    for (int i = 0; i < 20; i++) {
        x[i] = i + 1;
        up[i] = i; /* a diagonal from bottom left to top right */
    }
    nt_curve c[] = {{"rising", x, up, 20, NULL, 0}};
    ck_assert_msg(nt_plot_svg(path, NULL, "epoch", 1, 20, 0, 0, c, 1, &err) ==
                      0, "%s", err.msg);
    char *doc = read_text(path);
    const char *legend = strstr(doc, "<g class=\"legend\">\n<rect x=\"");
    ck_assert_ptr_nonnull(legend);
    double lx, ly;
    ck_assert_int_eq(sscanf(legend, "<g class=\"legend\">\n<rect x=\"%lf\" "
                                    "y=\"%lf\"", &lx, &ly), 2);
    /* the upper right corner is taken by the line: upper left it is */
    ck_assert_msg(lx < 150 && ly < 100, "legend at (%g, %g)", lx, ly);
    free(doc);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_refuses_bad_input)
{
    tu_tmpdir_make("plot");
    nt_error err = {""};
    double x[] = {1}, y[] = {1};
    nt_curve c[] = {{"a", x, y, 1, NULL, 0}};
    ck_assert_int_eq(nt_plot_svg(tu_tmp("a.svg"), NULL, "epoch", 5, 1, 0, 0,
                                 c, 1, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "bad x range"));
    ck_assert_int_eq(nt_plot_svg(tu_tmp("a.svg"), NULL, "epoch", NAN, 1, 0,
                                 0, c, 1, &err), -1);
    nt_curve bad[] = {{"a", NULL, y, 1, NULL, 0}};
    ck_assert_int_eq(nt_plot_svg(tu_tmp("a.svg"), NULL, "epoch", 1, 2, 0, 0,
                                 bad, 1, &err), -1);
    ck_assert_int_eq(access(tu_tmp("a.svg"), F_OK), -1);
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no/dir/a.svg", tu_tmpdir());
    ck_assert_int_eq(nt_plot_svg(missing, NULL, "epoch", 1, 2, 0, 0, c, 1,
                                 &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "No such file or directory"));
    tu_tmpdir_remove();
}
END_TEST

static Suite *plot_suite(void)
{
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("svg");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_d2l_curves);
    tcase_add_test(tc, test_escapes_text);
    suite_add_tcase(s, tc);
    tc = tcase_create("edge");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_edge_cases);
    tcase_add_test(tc, test_refuses_bad_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("legend");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_legend_avoids_data);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(plot_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
