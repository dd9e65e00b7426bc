/**
 * Who a CALL to a station is for. `operator`: an operator's API request waits for it and its answer reports it, so the
 * request's audit entry already stands for it (CONTRACT §8.7). `system`: the CSMS sends it on its own (a local list
 * sync, a site's load push, a CostUpdated, the boot inventory…) and the station session audits
 * it when it settles. The caller says which; everything not marked is `system`, so a call is never missing from the
 * trail (at worst an operator's call would be there twice, never zero times).
 */
export type CallOrigin = 'operator' | 'system';
