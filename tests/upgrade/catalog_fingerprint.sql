-- What the extension's objects are, as one sorted text: every relation with
-- its columns (in any order), constraints, indexes and triggers; every
-- function with its arguments, result, language, volatility, security,
-- settings and body; views with their definitions; the privileges; the
-- extension's members and dumped tables.  Two databases whose lines agree
-- have the same extension, whether it was created at this version or
-- updated to it (sql/015_upgrade.sql).  Makes the temporary view
-- gbn_fingerprint(line).
CREATE TEMP VIEW gbn_fingerprint AS
WITH ext AS (
	SELECT e.oid FROM pg_extension e WHERE e.extname = 'guestbook_notify'
), nsp AS (
	SELECT 'guestbook_notify'::regnamespace AS oid
), lines AS (
	SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' acl=' ||
		   coalesce(array_to_string(ARRAY(SELECT x::text FROM unnest(c.relacl) x ORDER BY 1), ','), '-')
	  FROM pg_class c, nsp WHERE c.relnamespace = nsp.oid AND c.relkind IN ('r', 'v', 'S', 'p')
	UNION ALL
	SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		   || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
		   || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
		   || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
	  FROM pg_class c JOIN nsp ON c.relnamespace = nsp.oid
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
	 WHERE c.relkind IN ('r', 'v', 'p')
	UNION ALL
	SELECT 'constraint ' || c.relname || '.' || k.conname || ' ' || pg_get_constraintdef(k.oid)
		   || CASE WHEN k.convalidated THEN '' ELSE ' not valid' END
	  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN nsp ON c.relnamespace = nsp.oid
	UNION ALL
	SELECT 'index ' || regexp_replace(pg_get_indexdef(i.indexrelid), ' USING ', ' using ')
	  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN nsp ON c.relnamespace = nsp.oid
	UNION ALL
	SELECT 'trigger ' || pg_get_triggerdef(t.oid)
	  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN nsp ON c.relnamespace = nsp.oid
	 WHERE NOT t.tgisinternal
	UNION ALL
	SELECT 'view ' || c.relname || ' ' || regexp_replace(pg_get_viewdef(c.oid), '\s+', ' ', 'g')
	  FROM pg_class c, nsp WHERE c.relnamespace = nsp.oid AND c.relkind = 'v'
	UNION ALL
	SELECT 'function ' || p.oid::regprocedure::text || ' -> ' || pg_get_function_result(p.oid)
		   || ' lang=' || l.lanname || ' vol=' || p.provolatile::text || ' strict=' || p.proisstrict
		   || ' secdef=' || p.prosecdef || ' parallel=' || p.proparallel::text
		   || ' config=' || coalesce(array_to_string(p.proconfig, ';'), '-')
		   || ' acl=' || coalesce(array_to_string(ARRAY(SELECT x::text FROM unnest(p.proacl) x ORDER BY 1), ','), '-')
		   || ' args=' || pg_get_function_arguments(p.oid)
		   || ' body=' || md5(coalesce(p.prosrc, '') || '|' || coalesce(p.probin, ''))
	  FROM pg_proc p JOIN nsp ON p.pronamespace = nsp.oid JOIN pg_language l ON l.oid = p.prolang
	UNION ALL
	SELECT 'member ' || pg_describe_object(d.classid, d.objid, 0)
	  FROM pg_depend d, ext WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
	   AND d.deptype = 'e'
	UNION ALL
	SELECT 'dumped ' || c.relname
	  FROM pg_extension e JOIN unnest(e.extconfig) AS t(oid) ON true JOIN pg_class c ON c.oid = t.oid
	 WHERE e.extname = 'guestbook_notify'
	UNION ALL
	SELECT 'schema acl ' || coalesce(array_to_string(n.nspacl, ','), '-')
	  FROM pg_namespace n WHERE n.nspname = 'guestbook_notify'
)
SELECT l AS line FROM lines AS t(l);
