#!/usr/bin/env bash
# Builds sql/guestbook_notify--FROM--TO.sql, the upgrade script of the
# version in development, from src/sql/upgrade/FROM--TO-before.sql (the
# tables' changes), every part of the install script that holds functions,
# views and privileges only (recreated with CREATE OR REPLACE), the parts
# new in TO (as they are, listed in src/sql/upgrade/FROM--TO-new-parts) and
# src/sql/upgrade/FROM--TO-after.sql.  Run it after changing the parts and
# commit its output; once TO is released, the script is frozen and the next
# version gets its own.  sql/013_upgrade.sql checks that an extension
# updated with it is the same as one created at TO.
#
#   bash src/sql/make_upgrade.sh 1.0 1.1
set -euo pipefail
cd "$(dirname "$0")/../.."
from=$1
to=$2
up=src/sql/upgrade
out=sql/guestbook_notify--$from--$to.sql

# the parts of functions, views and privileges only
function_parts="05_c_functions 20_worker_status 25_template_functions 40_app_access 50_triggers 60_api
	65_delivery_status 70_worker 80_views"
{
	cat "$up/$from--$to-before.sql"
	for p in $function_parts; do
		echo
		sed -e 's/^CREATE FUNCTION /CREATE OR REPLACE FUNCTION /' \
			-e 's/^CREATE VIEW /CREATE OR REPLACE VIEW /' "src/sql/$p.sql"
	done
	if [ -f "$up/$from--$to-new-parts" ]; then
		for p in $(grep -v '^#' "$up/$from--$to-new-parts"); do
			echo
			cat "src/sql/$p.sql"
		done
	fi
	echo
	cat "$up/$from--$to-after.sql"
	echo
	cat src/sql/90_privileges.sql
	echo
	cat src/sql/99_start.sql
} > "$out"
echo "wrote $out"
