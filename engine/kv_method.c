/* Dispatch wrappers for the method vtable: see kv_method.h. */
#include "engine/kv_method.h"

int kv_policy_prefill_layer(const struct kv_policy *p, const struct kv_layer_view *v, struct kv_decision *d,
			    char *err, size_t errlen)
{
	if (!p || !p->m || !p->m->prefill_layer)
		return 0;
	return p->m->prefill_layer(p->state, v, d, err, errlen);
}

int kv_policy_decode_layer(const struct kv_policy *p, const struct kv_decode_view *v, struct kv_decision *d,
			   char *err, size_t errlen)
{
	if (!p || !p->m || !p->m->decode_layer)
		return 0;
	return p->m->decode_layer(p->state, v, d, err, errlen);
}

int kv_policy_after_prefill(const struct kv_policy *p, const struct kv_session_view *v, struct kv_decision *d,
			    char *err, size_t errlen)
{
	if (!kv_policy_has_after_prefill(p))
		return 0;
	return p->m->after_prefill(p->state, v, d, err, errlen);
}

bool kv_policy_has_after_prefill(const struct kv_policy *p)
{
	return p && p->m && p->m->after_prefill;
}
