/* parser.y - grammar of the .net language.
 *
 * Pure and reentrant. Every action calls one AST constructor with the rule's
 * location; there are no lookups, checks or arithmetic here (expand.c does
 * those). Nodes live in the compilation's arena, so symbols discarded during
 * error recovery need no %destructor: the arena frees them with the rest.
 *
 * Two start symbols: START_FILE parses a whole .net file, START_EXPR a single
 * expression (a -D name=value from the command line).
 */
%code requires {
#include "parse_ctx.h"
}

%code provides {
int netc_yylex(NETC_YYSTYPE *yylval, NETC_YYLTYPE *yylloc, void *scanner);
}

%code {
#include <string.h>

#define A (ctx->ar)

/* Locations carry their source; spans run from the first to the last symbol
 * of a rule, and an empty rule sits just after the previous symbol. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                      \
    do {                                                                 \
        if (N) {                                                         \
            (Cur) = YYRHSLOC(Rhs, 1);                                    \
            (Cur).last_line = YYRHSLOC(Rhs, N).last_line;                \
            (Cur).last_column = YYRHSLOC(Rhs, N).last_column;            \
        } else {                                                         \
            (Cur) = YYRHSLOC(Rhs, 0);                                    \
            (Cur).first_line = (Cur).last_line;                          \
            (Cur).first_column = (Cur).last_column;                      \
        }                                                                \
    } while (0)

static void netc_yyerror(YYLTYPE *loc, void *scanner, parse_ctx *ctx,
                         const char *msg);
}

%define api.pure full
%define api.prefix {netc_yy}
%define api.location.type {nc_loc}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {void *scanner}
%parse-param {parse_ctx *ctx}

%union {
    long long ival;
    double fval;
    const char *str;
    ast_expr *expr;
    ast_arg *arg;
    ast_pattern *pattern;
    ast_stmt *stmt;
    ast_branch *branch;
    ast_param *param;
    ast_item *item;
}

%token <str> IDENT "name" STRING "string"
%token <ival> INT "integer"
%token <fval> FLOAT "number"
%token IMPORT "'import'" LET "'let'" BLOCK "'block'" NET "'net'"
%token REPEAT "'repeat'" FOR "'for'" IN "'in'" IF "'if'" ELSE "'else'"
%token BRANCH "'branch'" INPUT "'input'" TRAIN "'train'"
%token TRUE "'true'" FALSE "'false'" AND "'and'" OR "'or'" NOT "'not'"
%token EQ "'=='" NE "'!='" LE "'<='" GE "'>='"
%token START_FILE START_EXPR

%type <item> items item
%type <param> params_opt params param
%type <stmt> body stmts stmt if_stmt
%type <branch> branches branch
%type <arg> args_opt args arg
%type <pattern> pattern patterns
%type <expr> expr exprs

%left OR
%left AND
%precedence NOT
%nonassoc EQ NE '<' LE '>' GE
%left '+' '-'
%left '*' '/' '%'
%precedence UMINUS
%precedence '['

%%

start
    : START_FILE items              { ctx->items = $2; }
    | START_EXPR expr               { ctx->expr = $2; }
    ;

items
    : %empty                        { $$ = NULL; }
    | items item                    { $$ = ast_item_append($1, $2); }
    | items error                   { $$ = $1; }
    ;

item
    : IMPORT STRING                 { $$ = ast_import(A, @$, $2); }
    | LET pattern '=' expr          { $$ = ast_let_item(A, @$, $2, $4); }
    | BLOCK IDENT '(' params_opt ')' body
                                    { $$ = ast_block(A, @$, @2, $2, $4, $6); }
    | NET IDENT '(' params_opt ')' body
                                    { $$ = ast_net(A, @$, @2, $2, $4, $6); }
    | NET IDENT body                { $$ = ast_net(A, @$, @2, $2, NULL, $3); }
    ;

params_opt
    : %empty                        { $$ = NULL; }
    | params                        { $$ = $1; }
    | params ','                    { $$ = $1; }
    ;

params
    : param                         { $$ = $1; }
    | params ',' param              { $$ = ast_param_append($1, $3); }
    ;

param
    : IDENT                         { $$ = ast_param_new(A, @$, $1, NULL); }
    | IDENT '=' expr                { $$ = ast_param_new(A, @$, $1, $3); }
    ;

body
    : '{' stmts '}'                 { $$ = $2; }
    ;

/* After a syntax error in a statement, parsing resumes at the next token
 * that can start a statement, so later mistakes are reported too. */
stmts
    : %empty                        { $$ = NULL; }
    | stmts stmt                    { $$ = ast_stmt_append($1, $2); }
    | stmts error                   { $$ = $1; }
    ;

stmt
    : IDENT                         { $$ = ast_call(A, @$, @1, $1, 0, NULL, NULL); }
    | IDENT '(' args_opt ')'        { $$ = ast_call(A, @$, @1, $1, 1, $3, NULL); }
    | IDENT '{' branches '}'        { $$ = ast_call(A, @$, @1, $1, 0, NULL, $3); }
    | LET pattern '=' expr          { $$ = ast_let(A, @$, $2, $4); }
    | REPEAT expr body              { $$ = ast_repeat(A, @$, $2, $3); }
    | FOR pattern IN expr body      { $$ = ast_for(A, @$, $2, $4, $5); }
    | if_stmt                       { $$ = $1; }
    | INPUT '(' args_opt ')'        { $$ = ast_input(A, @$, $3); }
    | TRAIN '(' args_opt ')'        { $$ = ast_train(A, @$, $3); }
    ;

if_stmt
    : IF expr body                  { $$ = ast_if(A, @$, $2, $3, 0, NULL); }
    | IF expr body ELSE body        { $$ = ast_if(A, @$, $2, $3, 1, $5); }
    | IF expr body ELSE if_stmt     { $$ = ast_if(A, @$, $2, $3, 1, $5); }
    ;

branches
    : branch                        { $$ = $1; }
    | branches branch               { $$ = ast_branch_append($1, $2); }
    ;

branch
    : BRANCH body                   { $$ = ast_branch_new(A, @$, NULL, $2); }
    | BRANCH IDENT body             { $$ = ast_branch_new(A, @$, $2, $3); }
    ;

args_opt
    : %empty                        { $$ = NULL; }
    | args                          { $$ = $1; }
    | args ','                      { $$ = $1; }
    ;

args
    : arg                           { $$ = $1; }
    | args ',' arg                  { $$ = ast_arg_append($1, $3); }
    ;

arg
    : expr                          { $$ = ast_arg_new(A, @$, NULL, @$, $1); }
    | IDENT '=' expr                { $$ = ast_arg_new(A, @$, $1, @1, $3); }
    ;

pattern
    : IDENT                         { $$ = ast_pattern_name(A, @$, $1); }
    | '(' patterns ')'              { $$ = ast_pattern_tuple(A, @$, $2); }
    | '(' patterns ',' ')'          { $$ = ast_pattern_tuple(A, @$, $2); }
    ;

patterns
    : pattern                       { $$ = $1; }
    | patterns ',' pattern          { $$ = ast_pattern_append($1, $3); }
    ;

expr
    : INT                           { $$ = ast_int(A, @$, $1); }
    | FLOAT                         { $$ = ast_float(A, @$, $1); }
    | TRUE                          { $$ = ast_int(A, @$, 1); }
    | FALSE                         { $$ = ast_int(A, @$, 0); }
    | IDENT                         { $$ = ast_name(A, @$, $1); }
    | IDENT '(' args_opt ')'        { $$ = ast_fcall(A, @$, $1, $3); }
    | IN '.' IDENT                  { $$ = ast_query(A, @$, $3); }
    | '(' expr ')'                  { $$ = $2; }
    | '(' ')'                       { $$ = ast_tuple(A, @$, NULL); }
    | '(' expr ',' ')'              { $$ = ast_tuple(A, @$, $2); }
    | '(' expr ',' exprs ')'        { $$ = ast_tuple(A, @$, ast_expr_append($2, $4)); }
    | '(' expr ',' exprs ',' ')'    { $$ = ast_tuple(A, @$, ast_expr_append($2, $4)); }
    | expr '[' expr ']'             { $$ = ast_index(A, @$, $1, $3); }
    | '-' expr %prec UMINUS         { $$ = ast_unary(A, @$, OP_NEG, $2); }
    | NOT expr                      { $$ = ast_unary(A, @$, OP_NOT, $2); }
    | expr '+' expr                 { $$ = ast_binary(A, @$, OP_ADD, $1, $3); }
    | expr '-' expr                 { $$ = ast_binary(A, @$, OP_SUB, $1, $3); }
    | expr '*' expr                 { $$ = ast_binary(A, @$, OP_MUL, $1, $3); }
    | expr '/' expr                 { $$ = ast_binary(A, @$, OP_DIV, $1, $3); }
    | expr '%' expr                 { $$ = ast_binary(A, @$, OP_MOD, $1, $3); }
    | expr EQ expr                  { $$ = ast_binary(A, @$, OP_EQ, $1, $3); }
    | expr NE expr                  { $$ = ast_binary(A, @$, OP_NE, $1, $3); }
    | expr '<' expr                 { $$ = ast_binary(A, @$, OP_LT, $1, $3); }
    | expr LE expr                  { $$ = ast_binary(A, @$, OP_LE, $1, $3); }
    | expr '>' expr                 { $$ = ast_binary(A, @$, OP_GT, $1, $3); }
    | expr GE expr                  { $$ = ast_binary(A, @$, OP_GE, $1, $3); }
    | expr AND expr                 { $$ = ast_binary(A, @$, OP_AND, $1, $3); }
    | expr OR expr                  { $$ = ast_binary(A, @$, OP_OR, $1, $3); }
    ;

exprs
    : expr                          { $$ = $1; }
    | exprs ',' expr                { $$ = ast_expr_append($1, $3); }
    ;

%%

/* Operators continue an expression; they are left out of the "expected"
 * list (as "or an operator") so it names the tokens that matter. */
static int is_operator(yysymbol_kind_t k)
{
    static const char *const ops[] = {
        "'or'", "'and'", "'=='", "'!='", "'<='", "'>='", "'<'", "'>'",
        "'+'", "'-'", "'*'", "'/'", "'%'", "'['",
    };
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (strcmp(yysymbol_name(k), ops[i]) == 0)
            return 1;
    return 0;
}

/* "unexpected X; expected A, B or C" */
static int yyreport_syntax_error(const yypcontext_t *pc, void *scanner,
                                 parse_ctx *ctx)
{
    (void)scanner;
    if (ctx->lex->stop) /* the lexer already said why the input ended */
        return 0;
    yysymbol_kind_t all[YYNTOKENS], shown[6];
    int n = yypcontext_expected_tokens(pc, all, YYNTOKENS), k = 0, ops = 0;
    for (int i = 0; i < n; i++) {
        if (is_operator(all[i]))
            ops = 1;
        else if (k < 6)
            shown[k++] = all[i];
        else
            k = 7; /* too many to list */
    }
    yysymbol_kind_t got = yypcontext_token(pc);
    char buf[400];
    size_t len;
    if (got == YYSYMBOL_YYEOF)
        len = (size_t)snprintf(buf, sizeof buf, "unexpected end of file");
    else
        len = (size_t)snprintf(buf, sizeof buf, "unexpected %s", yysymbol_name(got));
    if (k > 0 && k <= 6) {
        len += (size_t)snprintf(buf + len, sizeof buf - len, "; expected ");
        for (int i = 0; i < k && len < sizeof buf; i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s",
                                    i == 0 ? "" : i == k - 1 && !ops ? " or " : ", ",
                                    yysymbol_name(shown[i]));
        if (ops && len < sizeof buf)
            snprintf(buf + len, sizeof buf - len, " or an operator");
    }
    diag_error(ctx->diag, *yypcontext_location(pc), "%s", buf);
    return 0;
}

static void netc_yyerror(YYLTYPE *loc, void *scanner, parse_ctx *ctx,
                         const char *msg)
{
    (void)scanner;
    if (strcmp(msg, "memory exhausted") == 0) /* the parser's stack is full */
        diag_error(ctx->diag, *loc, "nested more than %d deep (operators or statements)",
                   YYMAXDEPTH);
    else
        diag_error(ctx->diag, *loc, "%s", msg);
}
