# pg-dr-restore's reader of a dump's data, as pg_restore --section=data -f writes it: every COPY block's
# rows counted per table (the table as pg_dump quotes it: "schema.table<TAB>rows" lines on stdout) and,
# with n above 0, dealt out row by row to the n files dir "/sink." 1 .. n, one session each:
# - the prologue (its settings, the \restrict of psql) and every COPY's header and end go to each file;
# - the rows go round the files, one at a time (a COPY row is one line: pg_dump escapes newlines);
# - everything else (sequence values, large objects, statistics) goes to the first file, in order.
# So each file is a script psql runs on its own, and the first one is the whole input less the rows
# dealt to the others. POSIX awk only (the awk of macOS is the one true awk).

# the table's name as pg_dump wrote it: up to the first space outside double quotes
function qualified(s,   i, c, q) {
  q = 0
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (c == "\"") q = !q
    else if (c == " " && !q) return substr(s, 1, i - 1)
  }
  return s
}
function all(   i) {
  for (i = 1; i <= n; i++) print > sink[i]
}
# every file is opened before anything is read: a session waits for its file to be opened, so one
# never opened (an input without a line) would keep it waiting for ever
BEGIN {
  n += 0
  for (i = 1; i <= n; i++) {
    sink[i] = dir "/sink." i
    printf "" > sink[i]
  }
  prologue = 1
}
copy && $0 == "\\." {
  printf "%s\t%d\n", table, rows
  all()
  copy = 0
  next
}
copy {
  rows++
  if (n) print > sink[rows % n + 1]
  next
}
/^COPY .* FROM stdin;$/ {
  table = qualified(substr($0, 6))
  rows = 0
  copy = 1
  prologue = 0
  all()
  next
}
n == 0 { next }
prologue && (/^SET / || /^SELECT pg_catalog\.set_config\(/ || /^\\restrict / || /^--/ || $0 == "") {
  all()
  next
}
{
  prologue = 0
  print > sink[1]
}
