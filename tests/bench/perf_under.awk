# tests/bench/perf_under.awk -- used by bench_trigger_profile.sh:
#   perf script -F comm,ip,sym | awk -v TRG=regex -f perf_under.awk
# perf script -F comm,ip,sym output: where the samples under the trigger
# function (TRG, a regex) go: inclusive per callee frame and self per leaf
BEGIN { n = 0; total = 0; trig = 0 }
function flush(   i, k, seen) {
	if (n == 0) return
	total++
	k = -1
	for (i = 0; i < n; i++) if (f[i] ~ ("^(" TRG ")$")) { k = i; break }
	if (k >= 0) {
		trig++
		self[f[0]]++
		delete seen
		for (i = 0; i < k; i++) if (f[i] != "[unknown]" && !(f[i] in seen)) { seen[f[i]] = 1; incl[f[i]]++ }
	}
	n = 0
}
/^[^ \t]/ { flush(); next }
/^$/ { flush(); next }
{ sym = $2; for (j = 3; j <= NF; j++) sym = sym " " $j; f[n++] = sym }
END {
	flush()
	if (total == 0) { print "no samples"; exit }
	printf "samples %d, under %s %d (%.1f %% of the backend's samples)\n", total, TRG, trig, 100 * trig / total
	if (trig == 0) exit
	print "-- inclusive, % of the trigger's samples (top 25)"
	for (s in incl) printf "%6.1f %%  %s\n", 100 * incl[s] / trig, s | "sort -rn | head -25"
	close("sort -rn | head -25")
	print "-- self, % of the trigger's samples (top 15)"
	for (s in self) printf "%6.1f %%  %s\n", 100 * self[s] / trig, s | "sort -rn | head -15"
	close("sort -rn | head -15")
}
