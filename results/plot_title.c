/* The pieces every figure's title is made of (results/plot.h): the model's short name and
 * the method's label with its non-default parameters. */
#include <stdio.h>
#include <string.h>

#include "results/plot.h"

void plot_model_name(const char *model_path, char *buf, size_t len)
{
	const char *p = model_path ? model_path : "";
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/') /* a model folder given as "dir/" */
		n--;
	size_t start = n;
	while (start > 0 && p[start - 1] != '/')
		start--;
	size_t end = n;
	if (end - start > 5 && strncmp(p + end - 5, ".gguf", 5) == 0)
		end -= 5;
	snprintf(buf, len, "%.*s", (int)(end - start), p + start);
}

void plot_method_label(struct store *s, const struct plot_labeler *l, const char *method, const char *method_json,
		       char *buf, size_t len)
{
	char params[512] = "", err[256];
	if (!len)
		return;
	if (l && l->defaults &&
	    run_label_params(s, l->defaults, method, method_json, params, sizeof(params), err, sizeof(err)) != 0)
		params[0] = '\0';
	size_t o = (size_t)snprintf(buf, len, "%s", method ? method : "?");
	/* whole pairs only */
	for (char *w = params[0] ? params : NULL, *sp; w && o < len; w = sp ? sp + 1 : NULL) {
		sp = strchr(w, ' ');
		size_t wl = sp ? (size_t)(sp - w) : strlen(w);
		if (o + 1 + wl >= len)
			break;
		o += (size_t)snprintf(buf + o, len - o, " %.*s", (int)wl, w);
	}
}
