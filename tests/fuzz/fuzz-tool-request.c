/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-tool-request.c - iommu-broker-client's request lines, up to the broker call.
 *
 * Owns: the fuzz-tool-request harness.  The input is what the tool reads
 * from stdin: lines (at most MAX_LINES; blank and '#' lines skipped), each
 * one request "VERB key=value ...".  Each line runs the way main.c's
 * run_request() runs it: request_parse(), tool_verb_find(), tool_verb_check_keys(),
 * then the verb's handler itself, which parses every key of its verb (numbers
 * with suffixes, @NAMEs, ranges, hex data, a batch's op= lines) and makes
 * the memfds it names, but then meets a tool without a connection: every
 * libiommu-broker call refuses a NULL client with -EINVAL, as its API
 * promises.  A handler must then fail with a sentence or a negative errno;
 * the Tool's tables and fds are freed after the input.
 * Must never: connect anywhere.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/tool/json.h"
#include "client/tool/parse.h"
#include "client/tool/verbs.h"
#include "tests/fuzz/fuzz.h"

#define MAX_LINES 16
/* main.c reads lines of any length; a bound keeps one input fast. */
#define MAX_INPUT (64 * 1024)

static void run_line(Tool *tool, const char *line) {
        _cleanup_(request_done) Request req = REQUEST_INIT;
        _cleanup_(json_done) Json result = JSON_INIT;
        const Verb *verb;
        uint64_t v;
        int r;

        r = request_parse(line, ' ', &req);
        if (r == -ENODATA)
                return;
        if (r < 0)
                fuzz_fail("request_parse() failed: %s", strerror(-r));
        if (!req.verb || req.verb[0] == '\0')
                fuzz_fail("request_parse() returned an empty verb");
        for (size_t i = 0; i < req.n_args; i++) {
                const RequestArg *a = &req.args[i];

                if (!a->key)
                        fuzz_fail("argument %zu has no key", i);
                if (strpbrk(a->key, " \t\n") || (a->value && strpbrk(a->value, " \t\n")))
                        fuzz_fail("argument %zu ('%s') holds a separator", i, a->key);
                if (request_find(&req, a->key) == NULL)
                        fuzz_fail("argument '%s' is not found by its key", a->key);
                /* What the handlers apply to values, on every value. */
                if (a->value) {
                        (void) tool_parse_u64(a->value, /* allow_max= */ true, &v);
                        (void) parse_bool(a->value);
                        (void) name_is_valid(a->value);
                }
        }

        tool->error[0] = '\0';
        json_begin_fragment(&result);
        verb = tool_verb_find(req.verb);
        if (!verb)
                return;
        r = tool_verb_check_keys(tool, verb, &req);
        if (r < 0) {
                if (tool->error[0] == '\0')
                        fuzz_fail("tool_verb_check_keys() refused '%s' without a sentence", line);
                return;
        }
        r = verb->fn(tool, &req, &result);
        if (fuzz_verbose())
                fprintf(stderr, "fuzz: %s: %d %s\n", req.verb, r, tool->error);
        /* hello answers from what Hello said (nothing here); everything else needs the broker */
        if (r > 0)
                fuzz_fail("verb '%s' reports %d failed operations without a broker", req.verb, r);
        if (r == 0 && strcmp(req.verb, "hello") != 0)
                fuzz_fail("verb '%s' succeeded without a broker", req.verb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL;
        Tool tool = TOOL_INIT;
        char *line, *save = NULL;
        unsigned n = 0;

        if (size > MAX_INPUT)
                return 0;
        text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';

        /* getline() in main.c: a NUL ends what the tool sees of the line. */
        for (line = strtok_r(text, "\n", &save); line && n < MAX_LINES; line = strtok_r(NULL, "\n", &save)) {
                if (line_is_blank(line))
                        continue;
                run_line(&tool, line);
                n++;
        }

        tool_close_kept_fds(&tool);
        memfd_table_done(&tool.memfds);
        name_table_done(&tool.names);
        return 0;
}
