/*-------------------------------------------------------------------------
 *
 * provider.c
 *		Choice of the provider and what the providers share.
 *
 * src/provider.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "provider.h"

const GbnProviderOps *
gbn_provider_ops(int provider)
{
	return provider == GBN_PROVIDER_WAHA ? &gbn_waha_ops : &gbn_cloud_api_ops;
}

/* guestbook_notify.api_url without trailing slashes, palloc'd */
char *
gbn_api_base_url(void)
{
	char	   *url = pstrdup(gbn_api_url ? gbn_api_url : "");
	size_t		len = strlen(url);

	while (len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
	return url;
}
