/* services — see services.h. */
#include "services/services.h"

#include <string.h>

static const struct service *const table[] = {
	&service_echo, &service_reverse, &service_greet,   &service_ack,     &service_chat,
	&service_exec, &service_discard, &service_chargen, &service_daytime, &service_time,
};

const struct service *services_at(size_t i)
{
	return i < sizeof(table) / sizeof(table[0]) ? table[i] : NULL;
}

const struct service *services_find(const char *name)
{
	const struct service *s;

	for (size_t i = 0; (s = services_at(i)); i++)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

void services_ignore(struct conn *c, const struct frame_msg *m)
{
	(void)c;
	(void)m;
}
