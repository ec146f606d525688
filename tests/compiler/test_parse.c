/* test_parse.c - suite "parse": the lexer and the parser (grammar/), through
 * the syntax tree they build and the syntax errors they report. */
#include <stdlib.h>
#include <string.h>

#include "ctest.h"
#include "parse.h"

/* Parses text and returns its S-expression dump (or the diagnostics when
 * `errors` is set). */
static char *parse_dump(const char *text, int errors)
{
    arena ar = {0};
    diag d;
    diag_init(&d, &ar);
    nc_source *src = source_from_string(&ar, "t.net", text);
    ast_file *f = parse_source(&ar, &d, src);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (errors)
        diag_print(&d, out);
    else {
        ck_assert_msg(d.nerrors == 0, "unexpected syntax error in: %s", text);
        ast_dump(f, out);
    }
    fclose(out);
    arena_free(&ar);
    return buf;
}

#define ASSERT_DUMP(text, want)                                               \
    do {                                                                      \
        char *got_ = parse_dump((text), 0);                                   \
        ck_assert_msg(strcmp(got_, (want)) == 0, "parsing:\n%s\ngot:\n%s\nwant:\n%s", \
                      (text), got_, (want));                                  \
        free(got_);                                                           \
    } while (0)

#define ASSERT_SYNTAX_ERROR(text, want)                                       \
    do {                                                                      \
        char *got_ = parse_dump((text), 1);                                   \
        ck_assert_msg(strstr(got_, (want)) != NULL,                           \
                      "parsing:\n%s\nwant an error with \"%s\"; got:\n%s",    \
                      (text), (want), got_);                                  \
        free(got_);                                                           \
    } while (0)

/* ---- lexer ---------------------------------------------------------------- */

START_TEST(lex_numbers)
{
    ASSERT_DUMP("let a = 42\nlet b = 0.5\nlet c = 1e-3\nlet d = .25\nlet e = 3.\n",
                "(let a 42)\n(let b 0.5)\n(let c 0.001)\n(let d 0.25)\n(let e 3)\n");
}
END_TEST

START_TEST(lex_comments_and_whitespace)
{
    ASSERT_DUMP("# a comment\nlet a = 1 # trailing\n\t\r\nlet b=2",
                "(let a 1)\n(let b 2)\n");
}
END_TEST

START_TEST(lex_keywords_are_not_names)
{
    ASSERT_DUMP("let t = (true, false, not true)", "(let t (tuple 1 0 (not 1)))\n");
    ASSERT_DUMP("let repeated = 1", "(let repeated 1)\n");
}
END_TEST

START_TEST(lex_stray_character)
{
    ASSERT_SYNTAX_ERROR("let a = 1 $ 2", "t.net:1:11: error: stray '$' in program");
    ASSERT_SYNTAX_ERROR("let a = 1\x01", "stray byte 0x01 in program");
    /* bytes above 127 too (the lexer's tables cover all 256) */
    ASSERT_SYNTAX_ERROR("let a = 1\xff", "stray byte 0xff in program");
}
END_TEST

START_TEST(lex_integer_too_large)
{
    ASSERT_SYNTAX_ERROR("let a = 99999999999999999999",
                        "integer literal 99999999999999999999 is too large");
}
END_TEST

START_TEST(lex_unterminated_string)
{
    ASSERT_SYNTAX_ERROR("import \"lib/x.net\nnet n { }", "unterminated string");
}
END_TEST

START_TEST(lex_locations)
{
    /* line and column of a token after comments, tabs and blank lines */
    ASSERT_SYNTAX_ERROR("# c\n\n  let a = 1\n    let b = ?", "t.net:4:13: error: stray '?'");
}
END_TEST

/* ---- parser ---------------------------------------------------------------- */

START_TEST(parse_precedence)
{
    ASSERT_DUMP("let a = 1 + 2 * 3 - -4", "(let a (- (+ 1 (* 2 3)) (neg 4)))\n");
    ASSERT_DUMP("let a = c / r % 2", "(let a (% (/ c r) 2))\n");
    ASSERT_DUMP("let a = x < 3 and not y == 2 or z",
                "(let a (or (and (< x 3) (not (== y 2))) z))\n");
    ASSERT_DUMP("let a = t[1][0] * 2", "(let a (* (index (index t 1) 0) 2))\n");
    /* shape queries: `in` then a field; `.5` stays a number */
    ASSERT_DUMP("let a = in.channels / 2 + in.shape[0] * .5",
                "(let a (+ (/ in.channels 2) (* (index in.shape 0) 0.5)))\n");
    ASSERT_SYNTAX_ERROR("let a = x.channels", "unexpected '.'");
}
END_TEST

START_TEST(parse_tuples)
{
    ASSERT_DUMP("let a = ()", "(let a (tuple))\n");
    ASSERT_DUMP("let a = (1,)", "(let a (tuple 1))\n");
    ASSERT_DUMP("let a = (1)", "(let a 1)\n");
    ASSERT_DUMP("let a = ((1, 64), (2, 128),)",
                "(let a (tuple (tuple 1 64) (tuple 2 128)))\n");
    ASSERT_DUMP("let (a, (b, c)) = x", "(let (a (b c)) x)\n");
}
END_TEST

START_TEST(parse_block_and_net)
{
    ASSERT_DUMP("block b(x, y = 2,) { conv(x, 3, padding = y) relu }\n"
                "net n(r = 4) { input(1, 28, 28) b(8) }",
                "(block b (x y=2)\n"
                "  (call conv x 3 padding=y)\n"
                "  (call relu)\n"
                ")\n"
                "(net n (r=4)\n"
                "  (input 1 28 28)\n"
                "  (call b 8)\n"
                ")\n");
    ASSERT_DUMP("net n { }", "(net n ()\n)\n");
}
END_TEST

START_TEST(parse_control_flow)
{
    ASSERT_DUMP("net n { repeat 2 { relu } for (a, b) in t { conv(a, b) } "
                "if x { relu } else if y { tanh } else { sigmoid } }",
                "(net n ()\n"
                "  (repeat 2\n    (body\n      (call relu)\n))\n"
                "  (for (a b) t\n    (body\n      (call conv a b)\n))\n"
                "  (if x\n    (then\n      (call relu)\n)\n"
                "    (else\n      (if y\n        (then\n          (call tanh)\n)\n"
                "        (else\n          (call sigmoid)\n))\n))\n"
                ")\n");
}
END_TEST

START_TEST(parse_branches)
{
    ASSERT_DUMP("net n { add { branch { conv(4, 3) } branch short { } } }",
                "(net n ()\n"
                "  (call add\n    (branch\n      (call conv 4 3)\n)\n    (short))\n"
                ")\n");
}
END_TEST

START_TEST(parse_import_train)
{
    ASSERT_DUMP("import \"lib/resnet.net\"\nnet n { train(lr = 0.1, epochs = 2) }",
                "(import \"lib/resnet.net\")\n"
                "(net n ()\n  (train lr=0.1 epochs=2)\n)\n");
}
END_TEST

START_TEST(parse_function_calls)
{
    ASSERT_DUMP("let a = max(len(t), 2)", "(let a (max (len t) 2))\n");
}
END_TEST

/* ---- syntax errors ------------------------------------------------------------ */

START_TEST(error_expected_tokens)
{
    ASSERT_SYNTAX_ERROR("net n { conv(6, 5 }",
                        "t.net:1:19: error: unexpected '}'; expected ')'");
    ASSERT_SYNTAX_ERROR("net { }", "unexpected '{'; expected name");
    ASSERT_SYNTAX_ERROR("block b(x { }", "unexpected '{'");
}
END_TEST

START_TEST(error_end_of_file)
{
    ASSERT_SYNTAX_ERROR("net n { conv(6, 5)", "t.net:1:19: error: unexpected end of file");
}
END_TEST

START_TEST(error_recovery_reports_several)
{
    /* one error per broken body; the parser recovers at '}' */
    const char *text = "block a() { conv(1,, 2) }\n"
                       "block b() { relu }\n"
                       "block c() { maxpool(3 3) }\n";
    char *got = parse_dump(text, 1);
    ck_assert_msg(strstr(got, "t.net:1:") && strstr(got, "t.net:3:"),
                  "want errors on lines 1 and 3, got:\n%s", got);
    ck_assert_msg(!strstr(got, "t.net:2:"), "no error on line 2, got:\n%s", got);
    free(got);
}
END_TEST

START_TEST(error_top_level_junk)
{
    ASSERT_SYNTAX_ERROR("conv(3, 3)\nnet n { }", "t.net:1:1: error: unexpected name");
}
END_TEST

START_TEST(error_caret_spans_token)
{
    char *got = parse_dump("net n {\n  conv(6, 5) ) relu\n}", 1);
    ck_assert_msg(strstr(got, "    2 |   conv(6, 5) ) relu\n      |              ^\n"),
                  "caret under the ')', got:\n%s", got);
    free(got);
}
END_TEST

START_TEST(expression_parser_for_defines)
{
    arena ar = {0};
    diag d;
    diag_init(&d, &ar);
    ast_expr *e = parse_expr_string(&ar, &d, "-D x", "(1, 2 * 3)");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->kind, E_TUPLE);
    ck_assert_ptr_null(parse_expr_string(&ar, &d, "-D x", "1 +"));
    ck_assert_int_eq(d.nerrors, 1);
    arena_free(&ar);
}
END_TEST

static Suite *parse_suite(void)
{
    Suite *s = suite_create("parse");
    TCase *lex = tcase_create("lexer");
    tcase_add_test(lex, lex_numbers);
    tcase_add_test(lex, lex_comments_and_whitespace);
    tcase_add_test(lex, lex_keywords_are_not_names);
    tcase_add_test(lex, lex_stray_character);
    tcase_add_test(lex, lex_integer_too_large);
    tcase_add_test(lex, lex_unterminated_string);
    tcase_add_test(lex, lex_locations);
    suite_add_tcase(s, lex);
    TCase *par = tcase_create("parser");
    tcase_add_test(par, parse_precedence);
    tcase_add_test(par, parse_tuples);
    tcase_add_test(par, parse_block_and_net);
    tcase_add_test(par, parse_control_flow);
    tcase_add_test(par, parse_branches);
    tcase_add_test(par, parse_import_train);
    tcase_add_test(par, parse_function_calls);
    tcase_add_test(par, expression_parser_for_defines);
    suite_add_tcase(s, par);
    TCase *err = tcase_create("syntax errors");
    tcase_add_test(err, error_expected_tokens);
    tcase_add_test(err, error_end_of_file);
    tcase_add_test(err, error_recovery_reports_several);
    tcase_add_test(err, error_top_level_junk);
    tcase_add_test(err, error_caret_spans_token);
    suite_add_tcase(s, err);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(parse_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
