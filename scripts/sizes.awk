# sizes.awk — the sources over the size rule (docs/ARCHITECTURE.md,
# Conventions): every function over FN lines (default 80) and every file
# over FILE lines (default 600). A function runs from its '{' at column 0
# (after its declarator, a line starting with a letter) or from a
# declarator line ending in ') {', to the next '}' at column 0; tables and
# other initializers are data and are not counted.
#
#   awk -f scripts/sizes.awk $(git ls-files '*.c' '*.h')
#
# Prints FILE:LINE: N lines: DECLARATOR for each function, FILE: N lines
# for each file; nothing when all are within the rule. A function that
# must be longer says why in an essay at its top: read the list, not a
# verdict.
BEGIN { if (!FN) FN = 80; if (!FILE) FILE = 600 }
FNR == 1 { if (NR > 1) end_file(); infn = 0; last = ""; decl = "" }
{
	if (!infn) {
		if ($0 ~ /^\{/ && (last ~ /^[a-zA-Z_].*\)[ \t]*$/ || (last ~ /^[ \t]+.*\)[ \t]*$/ && decl != ""))) {
			infn = 1; start = FNR; name = decl != "" ? decl : last; next
		}
		if ($0 ~ /^[a-zA-Z_][^=;]*\([^;]*\)[ \t]*\{[ \t]*$/) { infn = 1; start = FNR; name = $0; next }
		if ($0 ~ /^[a-zA-Z_].*\(/) decl = $0
		else if ($0 !~ /^[ \t]/) decl = ""
		if ($0 !~ /^[ \t]*$/) last = $0
	} else if ($0 ~ /^\}/) {
		if (FNR - start + 1 > FN) printf "%s:%d: %d lines: %s\n", FILENAME, start, FNR - start + 1, name
		infn = 0; decl = ""; last = ""
	}
	lines = FNR; file = FILENAME
}
function end_file() { if (lines > FILE) printf "%s: %d lines\n", file, lines }
END { if (NR) end_file() }
