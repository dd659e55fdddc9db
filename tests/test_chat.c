/* engine/chat.c against transformers' apply_chat_template: the templates and renders in
 * tests/golden/chat_* come from scripts/ref_chat.py (manifest: tests/golden/chat_manifest.tsv).
 * Each golden case names the family and variant chat_detect() must report and the exact bytes
 * chat_render_user() must return for 13 messages; unsupported templates must be refused. */
#include "tests/test.h"

#include "engine/chat.h"   // defines: chat_detect, chat_render_user, chat_family_name
#include "base/errors.h" // defines: KV_E*
#include "engine/gguf.h"   // defines: gguf_open, gguf_get_strdup, gguf_close

#include <stdbool.h>
#include <time.h>

#define GOLDEN "tests/golden/"
#define MAX_ROWS 64

struct row {
	char name[64], tmpl[64], family[16], variant[32], bos[32], date[32];
};

static struct row rows[MAX_ROWS];
static int n_rows;

/* Returns the file's bytes NUL-terminated (caller frees), or NULL; *len gets the size. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto out_close;
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf) {
		buf[n] = '\0';
		if (len)
			*len = (size_t)n;
	}
out_close:
	fclose(f);
	return buf;
}

static char *template_text(const struct row *r)
{
	char path[160];
	snprintf(path, sizeof(path), GOLDEN "chat_%s.jinja", r->tmpl);
	return slurp(path, NULL);
}

/* Copies tab-separated field i of line into out. */
static void field(const char *line, int i, char *out, size_t cap)
{
	for (; i > 0 && line; i--) {
		line = strchr(line, '\t');
		if (line)
			line++;
	}
	size_t k = 0;
	while (line && line[k] && line[k] != '\t' && line[k] != '\n' && k + 1 < cap) {
		out[k] = line[k];
		k++;
	}
	out[k] = '\0';
}

static bool load_manifest(void)
{
	char *text = slurp(GOLDEN "chat_manifest.tsv", NULL);
	if (!text)
		return false;
	for (char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (*line == '#' || *line == '\n' || n_rows == MAX_ROWS)
			continue;
		struct row *r = &rows[n_rows++];
		field(line, 0, r->name, sizeof(r->name));
		field(line, 1, r->tmpl, sizeof(r->tmpl));
		field(line, 2, r->family, sizeof(r->family));
		field(line, 3, r->variant, sizeof(r->variant));
		field(line, 4, r->bos, sizeof(r->bos));
		field(line, 5, r->date, sizeof(r->date));
	}
	free(text);
	return n_rows > 0;
}

static bool supported(const struct row *r)
{
	return strcmp(r->family, "unsupported") != 0;
}

/* One golden render: msg and want point into the .expected buffer (not NUL-terminated). */
struct render_case {
	const char *msg, *want;
	size_t msg_n, want_n;
};

/* Reads "<word> <N>\n" at *p (exactly, no whitespace skipping); returns N or -1. */
static long read_head(const char **p, const char *end, const char *word)
{
	size_t k = strlen(word);
	const char *q = *p;
	long v = 0;
	if ((size_t)(end - q) < k + 2 || memcmp(q, word, k) != 0 || q[k] != ' ')
		return -1;
	q += k + 1;
	if (q >= end || *q < '0' || *q > '9')
		return -1;
	while (q < end && *q >= '0' && *q <= '9')
		v = v * 10 + (*q++ - '0');
	if (q >= end || *q != '\n')
		return -1;
	*p = q + 1;
	return v;
}

/* Parses "case I\nmsg N\n<N bytes>\nout N\n<N bytes>\n" records after the # header. */
static int parse_expected(const char *buf, size_t len, struct render_case *cases, int max)
{
	const char *p = buf, *end = buf + len;
	int n = 0;
	while (p < end && *p == '#')
		p = strchr(p, '\n') ? strchr(p, '\n') + 1 : end;
	while (p < end && n < max) {
		long idx = read_head(&p, end, "case"), k;
		if (idx != n || (k = read_head(&p, end, "msg")) < 0 || end - p < k + 1 || p[k] != '\n')
			return -1;
		cases[n].msg = p;
		cases[n].msg_n = (size_t)k;
		p += k + 1;
		if ((k = read_head(&p, end, "out")) < 0 || end - p < k + 1 || p[k] != '\n')
			return -1;
		cases[n].want = p;
		cases[n].want_n = (size_t)k;
		p += k + 1;
		n++;
	}
	return p == end ? n : -1;
}

/* Sets KVLAB_CHAT_DATE as the row says ("-" = unset). */
static void apply_date(const struct row *r)
{
	if (strcmp(r->date, "-") == 0)
		unsetenv("KVLAB_CHAT_DATE");
	else
		setenv("KVLAB_CHAT_DATE", r->date, 1);
}

// ----------------------------------------------------------------------------
// cases

static void chat_detect_should_name_family_and_variant_of_every_golden_template(void)
{
	int ids[MAX_ROWS];
	int n_checked = 0;
	for (int i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];
		ids[i] = -1;
		if (!supported(r))
			continue;
		char *t = template_text(r), err[256] = "";
		struct chat_format f;
		T_CHECK(t != NULL, "%s: cannot read tests/golden/chat_%s.jinja", r->name, r->tmpl);
		if (!t)
			continue;
		int rc = chat_detect(t, &f, err, sizeof(err));
		T_CHECK(rc == 0, "%s: chat_detect failed (%s): %s", r->name, kv_err_name(rc), err);
		if (rc == 0) {
			size_t k = strlen(r->variant);
			T_CHECK(strcmp(chat_family_name(f.family), r->family) == 0, "%s: family %s, want %s",
				r->name, chat_family_name(f.family), r->family);
			T_CHECK(strncmp(f.detail, r->variant, k) == 0 && f.detail[k] == ':',
				"%s: detail '%s', want variant '%s'", r->name, f.detail, r->variant);
			ids[i] = f.variant;
			n_checked++;
		}
		free(t);
	}
	/* equal variant names <=> equal variant numbers */
	for (int i = 0; i < n_rows; i++)
		for (int j = i + 1; j < n_rows; j++) {
			if (ids[i] < 0 || ids[j] < 0 || strcmp(rows[i].family, rows[j].family) != 0)
				continue;
			bool same_name = strcmp(rows[i].variant, rows[j].variant) == 0;
			T_CHECK(same_name == (ids[i] == ids[j]), "%s (%s, %d) vs %s (%s, %d)", rows[i].name,
				rows[i].variant, ids[i], rows[j].name, rows[j].variant, ids[j]);
		}
	printf("  detected %d golden templates\n", n_checked);
}

static void chat_render_should_match_transformers_byte_for_byte(void)
{
	struct render_case cases[32];
	int n_renders = 0, n_templates = 0;
	for (int i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];
		if (!supported(r))
			continue;
		char path[160], *t = template_text(r), err[256] = "";
		size_t len = 0;
		snprintf(path, sizeof(path), GOLDEN "chat_%s.expected", r->name);
		char *exp = slurp(path, &len);
		struct chat_format f;
		T_CHECK(t && exp, "%s: cannot read the template or %s", r->name, path);
		if (!t || !exp || chat_detect(t, &f, err, sizeof(err)) != 0) {
			T_CHECK(t == NULL || exp == NULL, "%s: not detected: %s", r->name, err);
			goto next;
		}
		int n = parse_expected(exp, len, cases, 32);
		T_CHECK(n > 0, "%s: %s is malformed; regenerate with scripts/ref_chat.py", r->name, path);
		apply_date(r);
		for (int c = 0; c < n; c++) {
			char msg[512], *out = NULL;
			T_CHECK(cases[c].msg_n < sizeof(msg), "%s case %d: message too long", r->name, c);
			if (cases[c].msg_n >= sizeof(msg))
				continue;
			memcpy(msg, cases[c].msg, cases[c].msg_n);
			msg[cases[c].msg_n] = '\0';
			int rc = chat_render_user(&f, strcmp(r->bos, "-") == 0 ? NULL : r->bos, msg, &out,
						  err, sizeof(err));
			T_CHECK(rc == 0, "%s case %d: render failed: %s", r->name, c, err);
			if (rc != 0)
				continue;
			bool same = strlen(out) == cases[c].want_n && memcmp(out, cases[c].want, cases[c].want_n) == 0;
			T_CHECK(same, "%s case %d: got %zu bytes '%s', want %zu bytes '%.*s'", r->name, c,
				strlen(out), out, cases[c].want_n, (int)cases[c].want_n, cases[c].want);
			n_renders += same;
			free(out);
		}
		n_templates++;
		unsetenv("KVLAB_CHAT_DATE");
	next:
		free(t);
		free(exp);
	}
	printf("  chat goldens OK: %d renders byte-identical over %d golden cases\n", n_renders, n_templates);
}

static void chat_detect_should_refuse_unsupported_templates_with_a_message(void)
{
	static const struct {
		const char *what, *text;
		int code;
	} inline_cases[] = {
		{ "empty template", "", KV_EUNSUP },
		{ "plain text", "Hello {{ messages[0]['content'] }}", KV_EUNSUP },
		{ "ChatML with trimmed content",
		  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
		  "message['content']|trim + '<|im_end|>\\n'}}{% endfor %}{% if add_generation_prompt %}"
		  "{{ '<|im_start|>assistant\\n' }}{% endif %}", KV_EUNSUP },
		{ "ChatML with an unknown default system",
		  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
		  "{{ '<|im_start|>system\\nYou are Bob.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + "
		  "message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
		  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}", KV_EUNSUP },
		{ "ChatML written as text outside tags",
		  "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
		  "<|im_end|>\n{% endfor %}", KV_EUNSUP },
		{ "Mistral with unknown spacing",
		  "{{ bos_token }}{% for message in messages %}{{ '[INST]  ' + message['content'] + "
		  "'  [/INST]' }}{% endfor %}", KV_EUNSUP },
		{ "Mistral without bos_token",
		  "{% for message in messages %}{{ '[INST] ' + message['content'] + '[/INST]' }}{% endfor %}",
		  KV_EUNSUP },
		{ "Llama-3 without trim",
		  "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
		  "'<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' }}{% endfor %}"
		  "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}", KV_EUNSUP },
		{ "Llama-2 chat (meta-llama/Llama-2-13b-chat-hf)",
		  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
		  "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
		  "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
		  "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + "
		  "system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}"
		  "{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
		  "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == "
		  "'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}", KV_EUNSUP },
		{ "unterminated tag", "{{ bos_token ", KV_EFORMAT },
		{ "unterminated string", "{{ '[INST] + message['content'] }}", KV_EFORMAT },
	};
	int n = 0;
	for (int i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];
		if (supported(r))
			continue;
		char *t = template_text(r), err[256] = "";
		struct chat_format f = { .family = CHAT_MISTRAL, .variant = 77 };
		T_CHECK(t != NULL, "%s: cannot read its template", r->name);
		if (!t)
			continue;
		int rc = chat_detect(t, &f, err, sizeof(err));
		T_CHECK(rc == KV_EUNSUP, "%s: got %s (%s), want EUNSUP", r->name, kv_err_name(rc), err);
		T_CHECK(strstr(err, "chat template") != NULL, "%s: message '%s' does not say what", r->name, err);
		T_CHECK(f.family == CHAT_MISTRAL && f.variant == 77, "%s: out changed on failure", r->name);
		printf("  refused %s: %s\n", r->name, err);
		free(t);
		n++;
	}
	for (size_t i = 0; i < sizeof(inline_cases) / sizeof(inline_cases[0]); i++) {
		char err[256] = "";
		struct chat_format f;
		int rc = chat_detect(inline_cases[i].text, &f, err, sizeof(err));
		T_CHECK(rc == inline_cases[i].code, "%s: got %s (%s), want %s", inline_cases[i].what,
			kv_err_name(rc), err, kv_err_name(inline_cases[i].code));
		T_CHECK(err[0] != '\0', "%s: empty message", inline_cases[i].what);
		printf("  refused %s: %s\n", inline_cases[i].what, err);
		n++;
	}
	T_CHECK(n >= 14, "only %d refusals checked", n);
}

static void chat_detect_should_survive_every_truncation_of_the_golden_templates(void)
{
	int n_calls = 0, n_ok = 0;
	for (int i = 0; i < n_rows; i++) {
		char *t = template_text(&rows[i]);
		if (!t)
			continue;
		size_t len = strlen(t);
		for (size_t cut = 0; cut < len; cut += 5) {
			char saved = t[cut], err[256] = "";
			struct chat_format f;
			t[cut] = '\0';
			int rc = chat_detect(t, &f, err, sizeof(err));
			t[cut] = saved;
			T_CHECK(rc == 0 || rc == KV_EUNSUP || rc == KV_EFORMAT, "%s cut at %zu: %s", rows[i].name,
				cut, kv_err_name(rc));
			T_CHECK(rc == 0 || err[0] != '\0', "%s cut at %zu: no message", rows[i].name, cut);
			n_calls++;
			n_ok += rc == 0;
		}
		free(t);
	}
	printf("  %d truncated templates: %d detected, the rest refused with a message\n", n_calls, n_ok);
}

/* The first Meta-Llama-3-8B-Instruct template always appended the assistant header (no
 * add_generation_prompt test); it renders like the later one. */
static void chat_detect_should_accept_the_early_llama3_template(void)
{
	static const char early[] =
		"{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
		"'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
		"'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
		"{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}";
	char *late = slurp(GOLDEN "chat_llama3.jinja", NULL), err[256] = "", *a = NULL, *b = NULL;
	struct chat_format fa, fb;
	int rc = chat_detect(early, &fa, err, sizeof(err));
	T_CHECK(rc == 0 && strncmp(fa.detail, "llama3:", 7) == 0, "early: %s %s", err, fa.detail);
	T_CHECK(late && chat_detect(late, &fb, err, sizeof(err)) == 0, "late: %s", err);
	if (rc == 0 && late && chat_render_user(&fa, "<|begin_of_text|>", " hi ", &a, err, sizeof(err)) == 0 &&
	    chat_render_user(&fb, "<|begin_of_text|>", " hi ", &b, err, sizeof(err)) == 0)
		T_CHECK(strcmp(a, b) == 0, "early '%s' vs late '%s'", a, b);
	free(a);
	free(b);
	free(late);
}

static void chat_detect_should_map_null_template_to_none_and_use_the_prompt_as_is(void)
{
	struct chat_format f;
	char err[256] = "", *out = NULL;
	int rc = chat_detect(NULL, &f, err, sizeof(err));
	T_CHECK(rc == 0 && f.family == CHAT_NONE, "rc %d family %d: %s", rc, f.family, err);
	T_CHECK(strncmp(f.detail, "none:", 5) == 0, "detail '%s'", f.detail);
	rc = chat_render_user(&f, "<s>", "  as is\n", &out, err, sizeof(err));
	T_CHECK(rc == 0 && out && strcmp(out, "  as is\n") == 0, "rc %d out '%s'", rc, out ? out : "(null)");
	free(out);
}

static void chat_gguf_smollm2_template_should_be_chatml_and_render_like_the_golden(void)
{
	struct gguf_file *g = NULL;
	char err[256] = "", *t = NULL, *golden = NULL, *out = NULL;
	struct chat_format f;
	int rc = gguf_open(T_MODEL, &g, err, sizeof(err));
	T_CHECK(rc == 0, "gguf_open(%s): %s (run 'make model')", T_MODEL, err);
	if (rc != 0)
		return;
	t = gguf_get_strdup(g, "tokenizer.chat_template");
	T_CHECK(t != NULL, "%s has no tokenizer.chat_template", T_MODEL);
	if (!t)
		goto out_close;
	golden = slurp(GOLDEN "chat_smollm2.jinja", NULL);
	T_CHECK(golden && strcmp(golden, t) == 0, "GGUF template differs from tests/golden/chat_smollm2.jinja");
	rc = chat_detect(t, &f, err, sizeof(err));
	T_CHECK(rc == 0 && f.family == CHAT_CHATML, "rc %d family %s: %s", rc, chat_family_name(f.family), err);
	T_CHECK(strncmp(f.detail, "chatml-smollm2:", 15) == 0, "detail '%s'", f.detail);
	if (rc != 0)
		goto out_free;
	rc = chat_render_user(&f, "<|im_start|>", "What is 2+2?", &out, err, sizeof(err));
	T_CHECK(rc == 0 && out && strcmp(out, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
				 "trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
				 "<|im_start|>assistant\n") == 0, "rendered '%s'", out ? out : "(null)");
	free(out);
	printf("  %s: %s\n", T_MODEL, f.detail);
out_free:
	free(golden);
	free(t);
out_close:
	gguf_close(g);
}

static void chat_llama3_date_should_follow_KVLAB_CHAT_DATE(void)
{
	char *t = slurp(GOLDEN "chat_llama32.jinja", NULL), err[256] = "", *out = NULL, want[96], day[32];
	struct chat_format f;
	T_CHECK(t && chat_detect(t, &f, err, sizeof(err)) == 0, "llama32 template: %s", err);
	free(t);
	if (err[0])
		return;
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(day, sizeof(day), "%d %b %Y", &tm); /* C locale, as Python's strftime_now */
	setenv("KVLAB_CHAT_DATE", "today", 1);
	int rc = chat_render_user(&f, "<|begin_of_text|>", "hi", &out, err, sizeof(err));
	snprintf(want, sizeof(want), "Today Date: %s\n\n<|eot_id|>", day);
	T_CHECK(rc == 0 && out && strstr(out, want), "today: '%s' lacks '%s'", out ? out : err, want);
	free(out);
	out = NULL;

	setenv("KVLAB_CHAT_DATE", "bad\ndate", 1);
	rc = chat_render_user(&f, "<|begin_of_text|>", "hi", &out, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && out == NULL, "control character in date: rc %s", kv_err_name(rc));
	T_CHECK(strstr(err, "KVLAB_CHAT_DATE") != NULL, "message '%s' does not name the variable", err);
	unsetenv("KVLAB_CHAT_DATE");
}

static void chat_render_should_reject_bad_arguments(void)
{
	struct chat_format f = { .family = CHAT_CHATML, .variant = 999 };
	char err[256] = "", *out = NULL;
	int rc = chat_render_user(&f, NULL, "x", &out, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && out == NULL, "unknown variant: rc %s", kv_err_name(rc));
	T_CHECK(strstr(err, "variant") != NULL, "message '%s'", err);
	f.variant = 0;
	rc = chat_render_user(&f, NULL, NULL, &out, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && out == NULL, "NULL message: rc %s", kv_err_name(rc));
	rc = chat_detect("", NULL, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL, "NULL out: rc %s", kv_err_name(rc));
}

static void chat_family_name_should_name_every_family(void)
{
	T_CHECK(strcmp(chat_family_name(CHAT_NONE), "none") == 0, "none");
	T_CHECK(strcmp(chat_family_name(CHAT_CHATML), "chatml") == 0, "chatml");
	T_CHECK(strcmp(chat_family_name(CHAT_LLAMA3), "llama3") == 0, "llama3");
	T_CHECK(strcmp(chat_family_name(CHAT_MISTRAL), "mistral") == 0, "mistral");
	T_CHECK(strcmp(chat_family_name(CHAT_FAMILY_COUNT), "unknown") == 0, "out of range");
}

int main(void)
{
	bool have = load_manifest();
	if (!have) {
		fprintf(stderr, "tests/golden/chat_manifest.tsv missing or empty; regenerate with "
				"scripts/ref_chat.py\n");
		t_n_fail++;
		return t_done();
	}
	unsetenv("KVLAB_CHAT_DATE");
	T_RUN(chat_detect_should_name_family_and_variant_of_every_golden_template);
	T_RUN(chat_render_should_match_transformers_byte_for_byte);
	T_RUN(chat_detect_should_refuse_unsupported_templates_with_a_message);
	T_RUN(chat_detect_should_survive_every_truncation_of_the_golden_templates);
	T_RUN(chat_detect_should_accept_the_early_llama3_template);
	T_RUN(chat_detect_should_map_null_template_to_none_and_use_the_prompt_as_is);
	T_RUN(chat_gguf_smollm2_template_should_be_chatml_and_render_like_the_golden);
	T_RUN(chat_llama3_date_should_follow_KVLAB_CHAT_DATE);
	T_RUN(chat_render_should_reject_bad_arguments);
	T_RUN(chat_family_name_should_name_every_family);
	return t_done();
}
