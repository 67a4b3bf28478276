# cli_keys.awk — `ksmd --list-keys` ("section.name live|fixed" lines) to
# the C source of ksmdctl's key list (cli/keys.h). A line of another shape
# fails the build.
BEGIN {
	print "/* Written by scripts/cli_keys.awk from `ksmd --list-keys`: do not edit. */"
	print "#include \"cli/keys.h\""
	print "const struct cli_key cli_keys[] = {"
}
NF != 2 || $1 !~ /^[a-z_]+\.[a-z_0-9]+$/ || ($2 != "live" && $2 != "fixed") {
	print "cli_keys.awk: unexpected line " NR ": " $0 > "/dev/stderr"
	bad = 1
	exit 1
}
{ printf "\t{ \"%s\", %s },\n", $1, $2 == "live" ? "true" : "false"; n++ }
END {
	if (bad)
		exit 1
	if (!n) {
		print "cli_keys.awk: no keys" > "/dev/stderr"
		exit 1
	}
	print "};"
	print "const size_t cli_n_keys = sizeof cli_keys / sizeof cli_keys[0];"
}
