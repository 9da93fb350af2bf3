
# The C unit checks of guestbook_notify_web (src/web/test_web.c), built by
# make beside the daemon: WAHA's documented HMAC-SHA512 vector, a Meta
# X-Hub-Signature-256 computed with the openssl command line, RFC 4231,
# every kind of bad signature header, constant-time token comparison, and
# the query-string, Content-Length, configuration, listen and secret-file
# parsers on good and bad input.  test_web prints TAP itself.

use strict;
use warnings;

use FindBin;

my $bin = "$FindBin::RealBin/../../src/web/test_web";
unless (-x $bin)
{
	print "1..1\nnot ok 1 - $bin is built by make (src/web/Makefile)\n";
	exit 1;
}
exec($bin) or die "exec $bin: $!";
