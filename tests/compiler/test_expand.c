/* test_expand.c - suite "expand": blocks, parameters, loops, conditionals,
 * branches, naming and evaluation (compiler/expand.c, compiler/eval.c). */
#include <stdlib.h>
#include <string.h>

#include "ctest.h"

#define ASSERT_PATHS(text, defines, want)                                    \
    do {                                                                     \
        ctest t_;                                                            \
        ctest_text(&t_, (text), (defines));                                  \
        CTEST_ASSERT_OK(&t_);                                                \
        char *got_ = ctest_paths(&t_);                                       \
        ck_assert_msg(strcmp(got_, (want)) == 0, "layers:\n  got  %s\n  want %s", \
                      got_, (want));                                         \
        free(got_);                                                          \
        ctest_free(&t_);                                                     \
    } while (0)

#define ASSERT_ERROR(text, defines, want)                                    \
    do {                                                                     \
        ctest t_;                                                            \
        ctest_text(&t_, (text), (defines));                                  \
        CTEST_ASSERT_ERROR(&t_, (want));                                     \
        ctest_free(&t_);                                                     \
    } while (0)

#define NET(body) "net n { input(3, 32, 32) " body " }"

START_TEST(sequence_naming)
{
    ASSERT_PATHS(NET("conv(8, 3) relu conv(8, 3) relu maxpool(2)"), NULL,
                 "conv1 relu1 conv2 relu2 maxpool1");
}
END_TEST

START_TEST(block_call_paths_and_groups)
{
    const char *text = "block pair(c) { conv(c, 3, padding = 1) relu }\n"
                       NET("pair(8) pair(16) flatten");
    ASSERT_PATHS(text, NULL, "pair1.conv1 pair1.relu1 pair2.conv1 pair2.relu1 flatten1");
    ctest t;
    ctest_text(&t, text, NULL);
    ck_assert_int_eq(t.c.graph.ngroups, 2);
    ck_assert_str_eq(t.c.graph.groups[1].label, "pair(16)");
    ck_assert_int_eq(t.c.graph.nodes[3].group, 1);
    ck_assert_int_eq(t.c.graph.nodes[5].group, -1);
    ck_assert_int_eq(t.c.graph.nodes[3].a.conv.out, 16);
    ctest_free(&t);
}
END_TEST

START_TEST(names_ending_in_digits)
{
    ASSERT_PATHS("block b1() { relu }\n" NET("b1 b1"), NULL, "b1_1.relu1 b1_2.relu1");
}
END_TEST

START_TEST(keyword_and_default_arguments)
{
    /* a default may use an earlier parameter */
    const char *text = "block b(c, k = 3, p = k / 2) { conv(c, k, padding = p) }\n"
                       NET("b(4) b(4, k = 5) b(p = 0, c = 2)");
    ctest t;
    ctest_text(&t, text, NULL);
    CTEST_ASSERT_OK(&t);
    const ir_node *n = t.c.graph.nodes;
    ck_assert_int_eq(n[1].a.conv.kh, 3);
    ck_assert_int_eq(n[1].a.conv.ph, 1);
    ck_assert_int_eq(n[2].a.conv.kh, 5);
    ck_assert_int_eq(n[2].a.conv.ph, 2);
    ck_assert_int_eq(n[3].a.conv.out, 2);
    ck_assert_int_eq(n[3].a.conv.ph, 0);
    ctest_free(&t);
}
END_TEST

START_TEST(layer_arguments)
{
    ctest t;
    ctest_text(&t, NET("conv(8, (3, 5), stride = (1, 2), padding = (1, 2), bias = false) "
                       "maxpool(3) avgpool(2, stride = 1, padding = 1) dropout(0.25)"),
               NULL);
    CTEST_ASSERT_OK(&t);
    const ir_node *n = t.c.graph.nodes;
    const conv_attrs *c = &n[1].a.conv;
    ck_assert(c->kh == 3 && c->kw == 5 && c->sh == 1 && c->sw == 2 && c->ph == 1 &&
              c->pw == 2 && c->bias == 0);
    ck_assert(n[2].a.pool.sh == 3 && n[2].a.pool.sw == 3); /* stride defaults to kernel */
    ck_assert(n[3].a.pool.sh == 1 && n[3].a.pool.ph == 1);
    ck_assert(n[4].a.dropout.p == 0.25);
    ctest_free(&t);
}
END_TEST

START_TEST(repeat_continues_numbering)
{
    ASSERT_PATHS(NET("repeat 3 { conv(4, 1) relu }"), NULL,
                 "conv1 relu1 conv2 relu2 conv3 relu3");
    ASSERT_PATHS(NET("repeat 0 { relu } tanh"), NULL, "tanh1");
}
END_TEST

START_TEST(for_with_destructuring)
{
    const char *text =
        "block vgg_block(num_convs, channels) {\n"
        "  repeat num_convs { conv(channels, 3, padding = 1) relu }\n"
        "  maxpool(2, stride = 2)\n"
        "}\n"
        "net vgg(ratio = 4) {\n"
        "  input(1, 32, 32)\n"
        "  let conv_arch = ((1, 64), (2, 128))\n"
        "  for (n, c) in conv_arch { vgg_block(n, c / ratio) }\n"
        "}\n";
    ASSERT_PATHS(text, NULL,
                 "vgg_block1.conv1 vgg_block1.relu1 vgg_block1.maxpool1 "
                 "vgg_block2.conv1 vgg_block2.relu1 vgg_block2.conv2 vgg_block2.relu2 "
                 "vgg_block2.maxpool1");
    ctest t;
    ctest_text(&t, text, NULL);
    ck_assert_int_eq(t.c.graph.nodes[1].a.conv.out, 16);
    ck_assert_int_eq(t.c.graph.nodes[4].a.conv.out, 32);
    ctest_free(&t);
}
END_TEST

START_TEST(if_else_chain)
{
    const char *text = "block act(kind) { if kind == 0 { relu } else if kind == 1 { tanh } "
                       "else { sigmoid } }\n" NET("act(0) act(1) act(2)");
    ASSERT_PATHS(text, NULL, "act1.relu1 act2.tanh1 act3.sigmoid1");
}
END_TEST

START_TEST(concat_branches_in_written_order)
{
    ctest t;
    ctest_text(&t, NET("concat { branch { conv(4, 1) } branch { conv(2, 1) relu } "
                       "branch { maxpool(3, stride = 1, padding = 1) } }"),
               NULL);
    CTEST_ASSERT_OK(&t);
    char *paths = ctest_paths(&t);
    ck_assert_str_eq(paths, "branch1.conv1 branch2.conv1 branch2.relu1 "
                            "branch3.maxpool1 concat1");
    free(paths);
    const ir_node *cat = &t.c.graph.nodes[5];
    ck_assert_int_eq(cat->ninputs, 3);
    ck_assert_int_eq(cat->inputs[0], 1);
    ck_assert_int_eq(cat->inputs[1], 3);
    ck_assert_int_eq(cat->inputs[2], 4);
    ck_assert_int_eq(cat->out.d[0], 4 + 2 + 3);
    ctest_free(&t);
}
END_TEST

START_TEST(add_with_identity_branch)
{
    ctest t;
    ctest_text(&t, NET("conv(8, 3, padding = 1) add { branch { conv(8, 3, padding = 1) } "
                       "branch { } } relu"),
               NULL);
    CTEST_ASSERT_OK(&t);
    const ir_node *add = &t.c.graph.nodes[3];
    ck_assert_int_eq(add->kind, L_ADD);
    ck_assert_int_eq(add->inputs[0], 2);
    ck_assert_int_eq(add->inputs[1], 1); /* the identity: the add's own input */
    ctest_free(&t);
}
END_TEST

START_TEST(named_branches)
{
    /* as written outside a loop; numbered per iteration in one */
    ASSERT_PATHS(NET("concat { branch left { relu } branch right { tanh } }"), NULL,
                 "left.relu1 right.tanh1 concat1");
    ASSERT_PATHS(NET("repeat 2 { concat { branch left { relu } branch right { tanh } } }"), NULL,
                 "left1.relu1 right1.tanh1 concat1 left2.relu1 right2.tanh1 concat2");
    ASSERT_PATHS(NET("for c in (4, 8) { concat { branch grow { conv(c, 1) } branch { } } }"), NULL,
                 "grow1.conv1 concat1 grow2.conv1 concat2");
}
END_TEST

START_TEST(empty_branches_keep_no_number)
{
    /* not branch1, branch3, branch5: the identity branches use no name */
    ASSERT_PATHS(NET("repeat 3 { add { branch { conv(3, 1) } branch { } } }"), NULL,
                 "branch1.conv1 add1 branch2.conv1 add2 branch3.conv1 add3");
    ASSERT_PATHS(NET("add { branch { } branch { if false { relu } } branch { tanh } }"), NULL,
                 "branch1.tanh1 add1");
}
END_TEST

START_TEST(nested_blocks)
{
    const char *text = "block inner(c) { conv(c, 1) }\n"
                       "block outer(c) { inner(c) inner(c * 2) }\n" NET("outer(4)");
    ASSERT_PATHS(text, NULL, "outer1.inner1.conv1 outer1.inner2.conv1");
    ctest t;
    ctest_text(&t, text, NULL);
    ck_assert_int_eq(t.c.graph.groups[1].parent, 0);
    ck_assert_int_eq(t.c.graph.nodes[2].a.conv.out, 8);
    ctest_free(&t);
}
END_TEST

START_TEST(net_parameters_and_defines)
{
    const char *text = "net n(width = 4, k = (3, 3)) { input(1, 8, 8) conv(width * 2, k) }";
    const char *defs[] = {"width=16", "k=(1, 1)", NULL};
    ctest t;
    ctest_text(&t, text, defs);
    CTEST_ASSERT_OK(&t);
    ck_assert_int_eq(t.c.graph.nodes[1].a.conv.out, 32);
    ck_assert_int_eq(t.c.graph.nodes[1].a.conv.kh, 1);
    ck_assert_int_eq(t.c.graph.nparams, 2);
    ck_assert(t.c.graph.params[0].overridden);
    ctest_free(&t);
    const char *bad[] = {"widht=2", NULL};
    ASSERT_ERROR(text, bad, "-D widht=2: net 'n' has no parameter 'widht' (did you mean 'width'?)");
    const char *bad2[] = {"width=(", NULL};
    ASSERT_ERROR(text, bad2, "-D width:1:2: error: unexpected end of file");
    const char *bad3[] = {"novalue", NULL};
    ASSERT_ERROR(text, bad3, "-D needs name=value, got 'novalue'");
}
END_TEST

START_TEST(top_level_lets_and_scoping)
{
    ASSERT_PATHS("let widths = (2, 4)\nblock b() { conv(widths[1], 1) }\n" NET("b"), NULL,
                 "b1.conv1");
    /* blocks see their parameters and the top level, not their caller */
    ASSERT_ERROR("block b() { conv(secret, 1) }\nnet n { input(1, 8, 8) let secret = 3 b }",
                 NULL, "undefined variable 'secret'");
    /* as in Python, loop and branch bodies share the enclosing scope: a let
     * there assigns, and the value carries to the next iteration and after */
    ctest t;
    ctest_text(&t, NET("let c = 8 for k in range(3) { conv(c, 1) let c = c * 2 } conv(c, 1) "
                       "concat { branch { let d = 3 relu } branch { } } conv(d, 1)"),
               NULL);
    CTEST_ASSERT_OK(&t);
    const ir_node *n = t.c.graph.nodes;
    ck_assert_int_eq(n[1].a.conv.out, 8);
    ck_assert_int_eq(n[2].a.conv.out, 16);
    ck_assert_int_eq(n[3].a.conv.out, 32);
    ck_assert_int_eq(n[4].a.conv.out, 64);
    ck_assert_int_eq(n[7].a.conv.out, 3);
    ctest_free(&t);
    /* a block's lets stay in the block */
    ASSERT_ERROR("block b() { let q = 2 relu }\n" NET("b conv(q, 1)"), NULL,
                 "undefined variable 'q'");
}
END_TEST

START_TEST(import_library)
{
    const char *text = "import \"lib/resnet.net\"\n"
                       "net n { input(64, 8, 8) residual(64) }";
    ASSERT_PATHS(text, NULL,
                 "residual1.branch1.conv1 residual1.branch1.batchnorm1 residual1.branch1.relu1 "
                 "residual1.branch1.conv2 residual1.branch1.batchnorm2 residual1.add1 "
                 "residual1.relu1");
    ASSERT_ERROR("import \"lib/nothing.net\"\nnet n { input(1, 8, 8) relu }", NULL,
                 "cannot import 'lib/nothing.net'");
    /* an imported file's messages name it by a tidy path */
    ASSERT_ERROR("import \"./../nets/./lib/resnet.net\"\n"
                 "net n { input(4, 8, 8) residual(8, use_1x1conv = false) }", NULL,
                 "/nets/lib/resnet.net:8:3: error: add needs equal shapes");
    ASSERT_ERROR("import \"./lib/../lib/nothing.net\"\nnet n { input(1, 8, 8) relu }", NULL,
                 "/nets/lib/nothing.net): No such file");
}
END_TEST

START_TEST(evaluation)
{
    /* floor division and modulo as Python's //, % */
    const char *text = "net n { input(1, 8, 8) conv(-7 / 2 + 10, 1) conv(-7 % 3 + 1, 1) "
                       "conv(max(len((1, 2, 3)), min(9, 5)), 1) conv(range(4)[-1], 1) }";
    ctest t;
    ctest_text(&t, text, NULL);
    CTEST_ASSERT_OK(&t);
    ck_assert_int_eq(t.c.graph.nodes[1].a.conv.out, 6);
    ck_assert_int_eq(t.c.graph.nodes[2].a.conv.out, 3);
    ck_assert_int_eq(t.c.graph.nodes[3].a.conv.out, 5);
    ck_assert_int_eq(t.c.graph.nodes[4].a.conv.out, 3);
    ctest_free(&t);
    ASSERT_ERROR(NET("conv(8 / 0, 1)"), NULL, "division by zero: 8 / 0");
    ASSERT_ERROR(NET("conv(9223372036854775807 + 1, 1)"), NULL, "integer overflow");
    ASSERT_ERROR(NET("conv((1, 2)[2], 1)"), NULL, "index 2 out of range for (1, 2)");
    ASSERT_ERROR(NET("let (a, b) = (1, 2, 3)"), NULL, "cannot unpack (1, 2, 3) into 2 names");
    ASSERT_ERROR(NET("conv(lenn((1,)), 1)"), NULL, "unknown function 'lenn' (did you mean 'len'?)");
}
END_TEST

START_TEST(train_settings)
{
    ctest t;
    ctest_text(&t, "net n { input(1, 96, 96) train(lr = 0.05, epochs = 3, batch_size = 64, "
                   "resize = 96, momentum = 0.9, weight_decay = 1e-4) relu }",
               NULL);
    CTEST_ASSERT_OK(&t);
    const ir_train *tr = &t.c.graph.train;
    ck_assert(tr->has_lr && tr->lr == 0.05);
    ck_assert(tr->has_epochs && tr->epochs == 3);
    ck_assert(tr->has_batch_size && tr->batch_size == 64);
    ck_assert(tr->has_resize && tr->resize == 96);
    ck_assert(tr->has_momentum && tr->momentum == 0.9);
    ck_assert(tr->has_weight_decay && tr->weight_decay == 1e-4);
    ctest_free(&t);
    ASSERT_ERROR(NET("train(learning_rate = 0.1)"), NULL, "train has no setting 'learning_rate'");
    ASSERT_ERROR(NET("train(lr = 0.1, ecpohs = 2)"), NULL, "(did you mean 'epochs'?)");
    ASSERT_ERROR(NET("train(batch_size = 0)"), NULL,
                 "train: batch_size must be an integer from 1 to 65536, got 0");

    /* the recipe settings (runtime/recipe.def) become the trainer's string */
    ctest_text(&t, "net n { input(3, 8, 8) train(optimizer = adamw, betas = (0.9, 0.95), "
                   "nesterov = false, milestones = (3, 6), mean = (0.5, 0.4, 0.3), "
                   "label_smoothing = 0.1, crop_padding = 2, flip = true) relu }",
               NULL);
    CTEST_ASSERT_OK(&t);
    ck_assert_str_eq(t.c.graph.train.settings,
                     "optimizer=adamw betas=0.9,0.95 nesterov=false milestones=3,6 "
                     "mean=0.5,0.4,0.3 label_smoothing=0.1 crop_padding=2 flip=true");
    ctest_free(&t);
    ASSERT_ERROR(NET("train(optimiser = adam)"), NULL,
                 "train has no setting 'optimiser' (did you mean 'optimizer'?)");
    ASSERT_ERROR(NET("train(bogus = 1)"), NULL,
                 "; the settings are lr, epochs, batch_size, resize, momentum, "
                 "weight_decay, optimizer, nesterov, betas, eps, lr_schedule");
    ASSERT_ERROR(NET("train(optimizer = rmsprop)"), NULL,
                 "train: optimizer must be one of sgd adam adamw");
    ASSERT_ERROR(NET("train(optimizer = 3)"), NULL,
                 "train: optimizer must be one of sgd adam adamw");
    ASSERT_ERROR(NET("train(betas = 0.9)"), NULL,
                 "train: betas must be a tuple of 2 numbers from 0 to 0.999999, got 0.9");
    ASSERT_ERROR(NET("train(warmup = 1.5)"), NULL,
                 "train: warmup must be an integer from 0 to 100000000, got 1.5");
    ASSERT_ERROR(NET("train(flip = 2)"), NULL, "train: flip must be true or false, got 2");
    ASSERT_ERROR(NET("train(label_smoothing = 1.5)"), NULL,
                 "train: label_smoothing must be a number from 0 to 1, got 1.5");
}
END_TEST

START_TEST(argument_errors)
{
    ASSERT_ERROR(NET("conv(8)"), NULL, "conv: missing argument 'kernel'");
    ASSERT_ERROR(NET("conv(8, 3, 1, 1, true, 1, 1, 7)"), NULL, "conv takes at most 7 arguments");
    ASSERT_ERROR(NET("conv(8, 3, stride = 1, stride = 2)"), NULL, "argument 'stride' given twice");
    ASSERT_ERROR(NET("conv(out = 8, 3)"), NULL, "positional argument after a keyword argument");
    ASSERT_ERROR(NET("relu(1)"), NULL, "relu takes no arguments");
    ASSERT_ERROR(NET("conv(8, (3, 3, 3))"), NULL,
                 "conv: kernel must be an integer or a pair of integers, got (3, 3, 3)");
    ASSERT_ERROR(NET("conv(0, 3)"), NULL, "conv: out must be from 1 to 1000000, got 0");
    ASSERT_ERROR(NET("conv(2.5, 3)"), NULL, "conv: out must be an integer, got a number 2.5");
    ASSERT_ERROR(NET("maxpool(2, padding = 2)"), NULL,
                 "maxpool: padding must be at most half the kernel size");
    ASSERT_ERROR("block b(c) { conv(c, 1) }\n" NET("b()"), NULL, "b: missing argument 'c'");
}
END_TEST

START_TEST(structure_errors)
{
    ASSERT_ERROR("block b() { b }\n" NET("b"), NULL, "block 'b' calls itself");
    ASSERT_ERROR("block a() { c }\nblock c() { a }\n" NET("a"), NULL, "block 'a' calls itself");
    ASSERT_ERROR("block b() { relu }\nblock b() { tanh }\n" NET("b"), NULL,
                 "block 'b' is defined twice");
    ASSERT_ERROR("block conv() { relu }\n" NET("relu"), NULL,
                 "block 'conv' has the name of a built-in layer");
    ASSERT_ERROR(NET("concat"), NULL, "concat joins branches: write concat { branch");
    ASSERT_ERROR(NET("add { branch { relu } }"), NULL, "add needs at least two branches");
    ASSERT_ERROR(NET("relu { branch { } branch { } }"), NULL, "relu does not take branches");
    ASSERT_ERROR("net n { relu input(1, 8, 8) }", NULL,
                 "'relu' comes before the net's input(C, H, W)");
    ASSERT_ERROR("net n { relu }", NULL, "'relu' comes before the net's input");
    ASSERT_ERROR("net n { }", NULL, "net 'n' has no input(C, H, W)");
    ASSERT_ERROR("net n { input(1, 8, 8) }", NULL, "net 'n' has no layers");
    ASSERT_ERROR("net n { input(1, 8, 8) input(1, 8, 8) relu }", NULL,
                 "the net's input is already declared");
    ASSERT_ERROR("net n { input(1, 8) relu }", NULL, "input takes (C, H, W) or (features), got 2 sizes");
    ASSERT_ERROR("net a { input(1) relu }\nnet b { input(1) relu }", NULL,
                 "has 2 nets; choose one with --net NAME");
    ASSERT_ERROR("block b() { train(lr = 1) }\n" NET("b"), NULL,
                 "train(...) belongs in the net, not in a block");
    ASSERT_ERROR("net n(x) { input(1) relu }", NULL, "net parameter 'x' needs a default");
}
END_TEST

START_TEST(limits)
{
    ASSERT_ERROR(NET("repeat 100000 { repeat 100000 { relu } }"), NULL,
                 "the network has more than 100000 layers");
    ASSERT_ERROR(NET("for i in range(100000) { for j in range(100000) { let k = 1 } }"), NULL,
                 "expanding the net takes more than");
    ASSERT_ERROR(NET("repeat 100001 { relu }"), NULL, "repeat count must be an integer from 0 to 100000");
    ASSERT_ERROR(NET("repeat 1000 { let t = range(100000) }"), NULL,
                 "expressions build more than 1000000 tuple elements");
    ASSERT_ERROR("block b() { let x = 1 }\n" NET("repeat 100000 { repeat 2 { b } } relu"), NULL,
                 "the network has more than 100000 block calls");
    /* work is bounded, not only memory: 10,000 scans of a 100,000-tuple */
    ASSERT_ERROR("let t = range(100000)\n" NET("repeat 10000 { let m = max(t) } relu"), NULL,
                 "evaluating expressions takes more than 20000000 steps; is a loop too long?");
    ASSERT_ERROR("let t = range(100000)\n" NET("repeat 10000 { let m = t == t } relu"), NULL,
                 "evaluating expressions takes more than 20000000 steps");
}
END_TEST

START_TEST(error_inside_block_names_the_call)
{
    ctest t;
    ctest_text(&t, "block b(c) {\n  conv(c, 3, strde = 2)\n}\nnet n {\n  input(1, 8, 8)\n  b(4)\n}", NULL);
    CTEST_ASSERT_ERROR(&t, "test.net:2:14: error: conv has no argument 'strde' (did you mean 'stride'?)");
    CTEST_ASSERT_ERROR(&t, "test.net:6:3: note: in block 'b' called here");
    ctest_free(&t);
}
END_TEST

START_TEST(define_error_names_iteration_and_call)
{
    /* VGG at 16x16: the fifth stage's pool has a 1x1 input */
    static const char *const defines[] = {"size=16", NULL};
    ctest t;
    ctest_file(&t, ctest_src("nets/vgg.net"), defines);
    CTEST_ASSERT_ERROR(&t, "vgg.net:7:3: error: maxpool output would be empty");
    CTEST_ASSERT_ERROR(&t, "vgg.net:16:5: note: in block 'vgg_block' called here");
    CTEST_ASSERT_ERROR(&t, "vgg.net:15:3: note: in iteration 5 of 5 (num_convs = 2, channels = 512)");
    CTEST_ASSERT_ERROR(&t, "netc: note: net 'vgg' was expanded with -D size=16");
    ck_assert_int_eq(t.c.diag.nerrors, 1);
    ctest_free(&t);
}
END_TEST

START_TEST(seed_vgg_expansion)
{
    ctest t;
    ctest_file(&t, ctest_src("nets/vgg.net"), NULL);
    CTEST_ASSERT_OK(&t);
    char *paths = ctest_paths(&t);
    ck_assert_msg(strncmp(paths, "vgg_block1.conv1 vgg_block1.relu1 vgg_block1.maxpool1 "
                                 "vgg_block2.conv1",
                          60) == 0,
                  "got %s", paths);
    free(paths);
    ck_assert_int_eq(t.c.graph.ngroups, 5);
    ctest_free(&t);
}
END_TEST

static Suite *expand_suite(void)
{
    Suite *s = suite_create("expand");
    TCase *blocks = tcase_create("blocks");
    tcase_add_test(blocks, sequence_naming);
    tcase_add_test(blocks, block_call_paths_and_groups);
    tcase_add_test(blocks, names_ending_in_digits);
    tcase_add_test(blocks, keyword_and_default_arguments);
    tcase_add_test(blocks, layer_arguments);
    tcase_add_test(blocks, nested_blocks);
    tcase_add_test(blocks, import_library);
    tcase_add_test(blocks, seed_vgg_expansion);
    suite_add_tcase(s, blocks);
    TCase *loops = tcase_create("loops and conditionals");
    tcase_add_test(loops, repeat_continues_numbering);
    tcase_add_test(loops, for_with_destructuring);
    tcase_add_test(loops, if_else_chain);
    suite_add_tcase(s, loops);
    TCase *branches = tcase_create("branches");
    tcase_add_test(branches, concat_branches_in_written_order);
    tcase_add_test(branches, add_with_identity_branch);
    tcase_add_test(branches, named_branches);
    tcase_add_test(branches, empty_branches_keep_no_number);
    suite_add_tcase(s, branches);
    TCase *values = tcase_create("values and parameters");
    tcase_add_test(values, net_parameters_and_defines);
    tcase_add_test(values, top_level_lets_and_scoping);
    tcase_add_test(values, evaluation);
    tcase_add_test(values, train_settings);
    suite_add_tcase(s, values);
    TCase *errors = tcase_create("errors");
    tcase_set_timeout(errors, 60); /* the limits run to their bounds */
    tcase_add_test(errors, argument_errors);
    tcase_add_test(errors, structure_errors);
    tcase_add_test(errors, limits);
    tcase_add_test(errors, error_inside_block_names_the_call);
    tcase_add_test(errors, define_error_names_iteration_and_call);
    suite_add_tcase(s, errors);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(expand_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
