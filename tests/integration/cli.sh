#!/bin/sh
# cli.sh -- every spamsift subcommand and its error paths against a real
# SQLite store in a temp dir: exit statuses, mbox and Maildir input,
# AllowOverride, Trust, export/import, quarantine release through sendmail.
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/spamsift-cli.XXXXXX)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT
S() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$T" "$@"; }
expect() { # STATUS CMD...: run, compare the exit status
	want=$1; shift
	"$@" >"$T/out" 2>"$T/err"; got=$?
	[ "$got" = "$want" ] || { cat "$T/out" "$T/err" >&2; it_fail "$* exited $got, expected $want"; }
}

spam() { printf 'From: seller@pills.example\nTo: bob@example.net\nSubject: cheap pills %s\n\nBuy cheap pills now, best price, online pharmacy, order today %s\n' "$1" "$1"; }
ham() { printf 'From: alice@example.org\nTo: bob@example.net\nSubject: meeting notes %s\n\nHi Bob, attached are the notes from the project meeting. Regards, Alice %s\n' "$1" "$1"; }

# --help everywhere, usage errors exit 1.
for c in train retrain classify tokens whitelist blocklist prefs quarantine stats user db config export import; do
	expect 0 "$CLI_BIN" "$c" --help
	grep -q '^usage: spamsift' "$T/out" || it_fail "$c --help printed no usage"
done
expect 0 "$CLI_BIN" --help
# Help and version that cannot be written are a failure too (exit 0).
for a in --help --version "train --help"; do
	# shellcheck disable=SC2086
	"$CLI_BIN" $a >/dev/full 2>/dev/null
	[ $? = 2 ] || it_fail "$a to a full disk did not exit 2"
done
expect 1 "$CLI_BIN"
expect 1 "$CLI_BIN" frobnicate
# -h where an option wants its value: the command's help (it crashed).
for a in "retrain --user bob --signature -h --spam" "stats --user -h" "classify --user -h" \
    "export --user -h x" "import --user --help x" "whitelist list --user -h"; do
	# shellcheck disable=SC2086
	expect 0 S $a
	grep -q '^usage: spamsift' "$T/out" || it_fail "'$a' printed no usage"
done
# Only db init creates the store: a mistyped --db trained a new one (exit 0).
for a in "train --user bob@example.net --spam $T/none.eml" "whitelist add --user bob@example.net a@b.example" \
    "prefs set --user bob@example.net spamAction tag" "stats"; do
	# shellcheck disable=SC2086
	expect 3 S --db "$T/typo.db" $a
	grep -q "typo.db: no such store (.spamsift db init. creates it)" "$T/err" || it_fail "$a on no store: $(cat "$T/err")"
	[ -e "$T/typo.db" ] && it_fail "$a created a store"
done
spam 0 >"$T/none.eml"
expect 3 S --db "$T/typo.db" train --user bob@example.net --spam "$T/none.eml"
[ -e "$T/typo.db" ] && it_fail "train created a store"
# Several list patterns are all or nothing.
expect 0 S db init
# stats of a store without users: tsv still names its columns (it printed
# nothing), json is an empty array.
expect 0 S stats --format tsv
[ "$(wc -l <"$T/out")" = 1 ] && grep -q '^user	spam_learned	' "$T/out" ||
	it_fail "stats tsv without users: $(cat "$T/out")"
expect 0 S stats --format json
[ "$(cat "$T/out")" = "[]" ] || it_fail "stats json without users: $(cat "$T/out")"
expect 2 S whitelist add --user lists@example.net good@example.org 'not a pattern'
expect 0 S whitelist list --user lists@example.net
[ -s "$T/out" ] && it_fail "a bad pattern left the good one added: $(cat "$T/out")"
expect 0 S whitelist add --user lists@example.net good@example.org
expect 2 S whitelist del --user lists@example.net good@example.org absent@example.org
expect 0 S whitelist list --user lists@example.net
grep -q good@example.org "$T/out" || it_fail "a failed del removed the other pattern"
# An empty --db (an unset variable) is refused, not the configured store.
expect 1 S --db "" stats
grep -q 'empty' "$T/err" || it_fail "--db '': $(head -n 1 "$T/err")"
# A usage error names what was wrong, not only the usage.
for a in "db frob" "quarantine frob --user bob" "whitelist frob --user bob" "config frob"; do
	# shellcheck disable=SC2086
	expect 1 S $a
	grep -q '^spamsift: .*frob' "$T/err" || it_fail "'$a' does not name frob: $(head -n 1 "$T/err")"
done
expect 1 "$CLI_BIN" -c
grep -q 'option -c needs an argument' "$T/err" || it_fail "-c without its file: $(head -n 1 "$T/err")"
expect 1 S train --user bob@example.net
expect 2 S -o NoSuchKey=1 stats
grep -q 'NoSuchKey' "$T/err" || it_fail "unknown key error does not name the key"

expect 0 S db init
# Output that does not reach its file is an error (a truncated export
# exited 0 before).
S whitelist add --user out@example.net friend@example.org || it_fail "whitelist add"
st=0; S export --user out@example.net - >/dev/full 2>"$T/err" || st=$?
[ "$st" = 2 ] || it_fail "export to a full disk exited $st, expected 2"
grep -q 'standard output' "$T/err" || it_fail "no write error: $(cat "$T/err")"
# So is a reader that closes the pipe: exit 2, not death by SIGPIPE (141).
# (output of about 2 MB: far more than the pipe holds, whatever the timing)
mkdir -p "$T/many"
python3 -c '
import sys
for i in range(300):
    with open("%s/%d.eml" % (sys.argv[1], i), "w") as f:
        f.write("Subject: m %d\n\n" % i + " ".join("w%dx%d" % (i, k) for k in range(400)) + "\n")
' "$T/many"
{ S tokens "$T/many" 2>"$T/err"; echo $? >"$T/status"; } | head -n 1 >/dev/null
[ "$(cat "$T/status")" = 2 ] || it_fail "tokens into a closed pipe exited $(cat "$T/status"), expected 2"
[ -f "$T/spamsift.db" ] || it_fail "db init made no store"

# Inputs: a plain directory, an mbox, a Maildir, stdin.
mkdir -p "$T/spam" "$T/ham" "$T/Maildir/cur" "$T/Maildir/new" "$T/Maildir/tmp"
for i in 1 2 3 4 5 6; do spam "$i" >"$T/spam/$i.eml"; ham "$i" >"$T/ham/$i.eml"; done
{ for i in 7 8 9; do echo "From seller@pills.example Mon Jan  1 00:00:00 2026"; spam "$i"; echo; done; } >"$T/spam.mbox"
ham 7 >"$T/Maildir/cur/1.host:2,S"; ham 8 >"$T/Maildir/new/2.host"
expect 0 S train --user @global --spam "$T/spam"
grep -q 'learned 6 messages' "$T/out" || it_fail "directory: $(cat "$T/out")"
expect 0 S train --user @global --spam "$T/spam.mbox"
grep -q 'learned 3 messages' "$T/out" || it_fail "mbox: $(cat "$T/out")"
# A body line "From ..." after a blank line, without the separator's date,
# is text (mboxo does not quote it): one message, not two (as mutt reads it).
{ echo "From seller@pills.example Mon Jan  1 00:00:00 2026"; spam 11; echo; echo "From here on, prices drop"; echo;
  printf 'From seller@pills.example Tue Feb  3 04:05:06 2026\r\n'; spam 12; } >"$T/mboxo.mbox"
expect 0 S tokens "$T/mboxo.mbox"
[ "$(grep -c '^==> ' "$T/out")" = 2 ] || it_fail "mbox with a From line in a body: $(grep '^==>' "$T/out")"
expect 0 S train --user @global --ham "$T/ham" "$T/Maildir"
grep -q 'learned 8 messages' "$T/out" || it_fail "dir+Maildir: $(cat "$T/out")"
ham 9 | S train --user @global --ham - >"$T/out" || it_fail "stdin train"
grep -q 'learned 1 messages' "$T/out" || it_fail "stdin: $(cat "$T/out")"
# Nothing on standard input (an empty cron pipe) is not an empty message.
expect 2 S train --user @global --ham - </dev/null
grep -q 'learned 0 messages' "$T/out" && grep -q 'empty, not learned' "$T/err" ||
	it_fail "empty stdin: $(cat "$T/out" "$T/err")"
expect 2 S train --user @global --ham "$T/nonexistent"
# An unreadable input among good ones: exit 2, and the count of those learned.
expect 2 S train --user grace@example.net --spam "$T/spam" "$T/nonexistent"
grep -q 'learned 6 messages as spam' "$T/out" || it_fail "count with a bad input: $(cat "$T/out" "$T/err")"
# Both classes in one run: each input takes the class before it, and the
# counts are those of separate runs (compared on a second user's model).
expect 0 S train --user frank@example.net --spam "$T/spam" "$T/spam.mbox" --ham "$T/ham" "$T/Maildir"
[ "$(cat "$T/out")" = "frank@example.net: learned 9 messages as spam (0 retrained by signature)
frank@example.net: learned 8 messages as ham (0 retrained by signature)" ] || it_fail "spam+ham: $(cat "$T/out")"
expect 0 S train --user dave@example.net --ham "$T/ham" "$T/Maildir"
expect 0 S train --user dave@example.net --spam "$T/spam" "$T/spam.mbox"
for u in frank dave; do
	sqlite3 "$T/spamsift.db" "SELECT count(*), sum(spam_hits), sum(innocent_hits), sum(hash % 65521) FROM tokens JOIN users ON users.id = tokens.uid WHERE users.name = '$u@example.net'" >"$T/$u.tok"
done
[ -s "$T/frank.tok" ] && [ "$(cat "$T/frank.tok")" = "$(cat "$T/dave.tok")" ] ||
	it_fail "one spam+ham run learned other counts: $(cat "$T/frank.tok") vs $(cat "$T/dave.tok")"
expect 0 S stats --user frank@example.net --format json
grep -q '"spam_learned":9,"innocent_learned":8,' "$T/out" || it_fail "spam+ham totals: $(cat "$T/out")"
expect 1 S train --user @global --spam --ham "$T/ham"
grep -q 'each needs its inputs' "$T/err" || it_fail "--spam without inputs before --ham: $(cat "$T/err")"
expect 1 S train --user @global "$T/ham" --spam "$T/spam" --ham "$T/ham"
# The single-class forms keep their meaning: inputs before the class take it.
expect 0 S train --user erin@example.net "$T/spam" --spam
grep -q 'learned 6 messages as spam' "$T/out" || it_fail "input before --spam: $(cat "$T/out")"
# A file is learned once in a run, whatever names reach it: a symbolic link
# beside it, a hard link, its path again (each was learned once more, its
# tokens counted as often). Given again as the other class, it is named.
mkdir -p "$T/dup"
spam 20 >"$T/dup/a.eml"; ln -s a.eml "$T/dup/b.eml"; ln "$T/dup/a.eml" "$T/dup-hard.eml"
expect 0 S train --user ivan@example.net --spam "$T/dup" "$T/dup-hard.eml" "$T/dup/a.eml"
grep -q 'learned 1 messages as spam' "$T/out" || it_fail "a file by three names: $(cat "$T/out")"
[ -s "$T/err" ] && it_fail "a file by three names, one class: $(cat "$T/err")"
expect 0 S train --user ivan@example.net --spam "$T/dup-hard.eml" --ham "$T/dup/b.eml" "$T/ham/1.eml"
grep -q 'learned 1 messages as spam' "$T/out" && grep -q 'learned 1 messages as ham' "$T/out" &&
	grep -q "warning: $T/dup/b.eml: the same file as one learned as spam before: not learned as ham" "$T/err" ||
	it_fail "a file as spam and ham: $(cat "$T/out" "$T/err")"
expect 0 S stats --user ivan@example.net --format json
grep -q '"spam_learned":2,"innocent_learned":1,' "$T/out" || it_fail "a file by several names: $(cat "$T/out")"
# Folders in a folder are read too, as sa-learn reads them (they were passed
# over without a word): a Maildir among them as a Maildir (cur/ and new/),
# not dot folders; a folder in a Maildir's cur/ and a link back to a folder
# being read are named, not read.
mkdir -p "$T/nest/2024/deep" "$T/nest/box/cur/odd" "$T/nest/box/new" "$T/nest/box/tmp" "$T/nest/.hidden"
spam 21 >"$T/nest/a.eml"; spam 22 >"$T/nest/2024/b.eml"; spam 23 >"$T/nest/2024/deep/c.eml"
spam 24 >"$T/nest/box/cur/1.host:2,S"; spam 25 >"$T/nest/box/tmp/2.host"; spam 26 >"$T/nest/.hidden/3.eml"
spam 27 >"$T/nest/box/cur/odd/4.eml"; ln -s .. "$T/nest/2024/loop"
expect 0 S train --user judy@example.net --spam "$T/nest"
grep -q 'learned 4 messages as spam' "$T/out" || it_fail "nested folders: $(cat "$T/out" "$T/err")"
grep -q "warning: $T/nest/2024/loop: a link to a folder it is in, not read again" "$T/err" &&
	grep -q "warning: $T/nest/box/cur/odd: a folder in a Maildir's cur/ or new/, not read" "$T/err" ||
	it_fail "nested folders not read: $(cat "$T/err")"
expect 0 S tokens "$T/nest"
[ "$(grep -c '^==> ' "$T/out")" = 4 ] || it_fail "tokens of nested folders: $(grep '^==>' "$T/out")"

# classify: text, tsv, json; nothing learned without --train.
spam 10 >"$T/s10.eml"; ham 10 >"$T/h10.eml"
expect 0 S stats --user @global --format tsv
before=$(cat "$T/out")
expect 0 S classify --user bob@example.net --format tsv "$T/s10.eml" "$T/h10.eml"
[ "$(cut -f2 "$T/out" | tr '\n' ' ')" = "spam innocent " ] || it_fail "classify tsv: $(cat "$T/out")"
[ "$(head -n 1 "$T/out" | cut -f1)" = "$T/s10.eml" ] || it_fail "tsv path column"
expect 0 S stats --user @global --format tsv
[ "$(cat "$T/out")" = "$before" ] || it_fail "classify without --train changed counters"
expect 0 S classify --user bob@example.net --format json --explain "$T/s10.eml"
grep -q '"class":"spam".*"factors":\[{"token":' "$T/out" || it_fail "json explain: $(cat "$T/out")"
expect 0 S classify --user bob@example.net --explain "$T/s10.eml"
grep -q 'Subject:pills' "$T/out" || it_fail "--explain shows no token text"
expect 1 S classify --user bob@example.net --format xml "$T/s10.eml"
# An empty file or pipe is not a message: it had a verdict, and with --train
# was learned as one.
: >"$T/empty.eml"
expect 2 S classify --user bob@example.net --format tsv "$T/empty.eml" "$T/h10.eml"
grep -q 'empty.eml: empty, not classified' "$T/err" || it_fail "classify of an empty file: $(cat "$T/err")"
[ "$(cut -f1 "$T/out")" = "$T/h10.eml" ] || it_fail "classify of an empty file: $(cat "$T/out")"
expect 0 S stats --user @global --format tsv
before=$(cat "$T/out")
expect 2 S classify --user @global --train "$T/empty.eml"
expect 2 S classify --user @global --train </dev/null
[ -s "$T/out" ] && it_fail "classify of empty stdin: $(cat "$T/out")"
expect 0 S stats --user @global --format tsv
[ "$(cat "$T/out")" = "$before" ] || it_fail "classify --train learned an empty message: $(cat "$T/out")"
expect 2 S tokens "$T/empty.eml"

# classify --train learns a file once, whatever names reach it (it was
# learned twice); without --train a file named twice is classified twice.
expect 0 S classify --user twice@example.net "$T/h10.eml" "$T/h10.eml"
[ "$(wc -l <"$T/out")" = 2 ] || it_fail "classify of a file named twice: $(cat "$T/out")"
ln -s "$T/h10.eml" "$T/h10-link.eml"
expect 0 S classify --user twice@example.net --train "$T/h10.eml" "$T/h10-link.eml" "$T/h10.eml"
[ "$(wc -l <"$T/out")" = 1 ] && [ "$(grep -c 'not read again' "$T/err")" = 2 ] ||
	it_fail "classify --train of one file by three names: $(cat "$T/out" "$T/err")"
expect 0 S stats --user twice@example.net --format json
learned=$(sed 's/.*"spam_learned":\([0-9]*\),"innocent_learned":\([0-9]*\),.*/\1 + \2/' "$T/out")
[ "$(( $learned ))" = 1 ] ||
	it_fail "classify --train learned one file more than once: $(cat "$T/out")"
rm "$T/h10-link.eml"

# classify --train (TEFT) stores a signature; retrain reverses it.
expect 0 S classify --user bob@example.net --train --format json "$T/h10.eml"
sig=$(sed -n 's/.*"signature":"\([0-9a-f]*\)".*/\1/p' "$T/out")
[ -n "$sig" ] || it_fail "no signature from classify --train"
expect 0 S retrain --user bob@example.net --signature "$sig" --spam
expect 0 S stats --user bob@example.net --format json
grep -q '"false_negatives":1' "$T/out" || it_fail "retrain did not count a false negative: $(cat "$T/out")"
expect 2 S retrain --user bob@example.net --signature 0123456789abcdef0123456789abcdef --spam
# One class: --spam --ham was taken as --ham (the last), and counted.
expect 1 S retrain --user bob@example.net --signature "$sig" --spam --ham
expect 0 S stats --user bob@example.net --format json
grep -q '"false_positives":0,"false_negatives":1' "$T/out" || it_fail "retrain --spam --ham: $(cat "$T/out")"
# A message carrying the signature header is retrained by it.
{ echo "X-Spamsift-Signature: $sig"; ham 10; } >"$T/sig.eml"
expect 0 S train --user bob@example.net --ham "$T/sig.eml"
grep -q '1 retrained by signature' "$T/out" || it_fail "train by signature: $(cat "$T/out")"
# Folded onto a line of its own (RFC 5322), it is the same signature (it
# was not seen: the message was learned from its text).
printf 'X-Spamsift-Signature:\r\n\t%s\r\n' "$sig" >"$T/fold.eml"
ham 10 >>"$T/fold.eml"
expect 0 S train --user bob@example.net --spam "$T/fold.eml"
grep -q '1 retrained by signature' "$T/out" || it_fail "train by a folded signature field: $(cat "$T/out")"
expect 0 S train --user bob@example.net --ham "$T/fold.eml"
grep -q '1 retrained by signature' "$T/out" || it_fail "train by a folded signature field: $(cat "$T/out")"
expect 0 S stats --user bob@example.net --format json
grep -q '"false_positives":2,"false_negatives":2' "$T/out" || it_fail "folded signature: $(cat "$T/out")"
# Again: the signature is ham already, nothing changes, and the summary
# says so (it counted a message learned and retrained).
expect 0 S stats --user bob@example.net --format json
before=$(cat "$T/out")
expect 0 S train --user bob@example.net --ham "$T/sig.eml"
[ "$(cat "$T/out")" = "bob@example.net: learned 0 messages as ham (0 retrained by signature), 1 unchanged (signature already ham)" ] ||
	it_fail "train by a signature already ham: $(cat "$T/out")"
expect 0 S stats --user bob@example.net --format json
[ "$(cat "$T/out")" = "$before" ] || it_fail "train by a signature already ham changed counters: $(cat "$T/out")"
# Old signed mail (signatures purged) is learned from its bytes in one
# commit, as unsigned mail is: each message was a commit of its own.
mkdir -p "$T/oldsig"
for i in $(seq 1 40); do
	{ printf 'X-Spamsift-Signature: %032x\n' "$i"; ham "old$i"; } >"$T/oldsig/$i.eml"
done
gen0=$(sqlite3 "$T/spamsift.db" 'SELECT gen FROM generation')
expect 0 S train --user bob@example.net --ham "$T/oldsig"
grep -q 'learned 40 messages as ham (0 retrained by signature)' "$T/out" || it_fail "old signed mail: $(cat "$T/out")"
gen1=$(sqlite3 "$T/spamsift.db" 'SELECT gen FROM generation')
# (the generation's low 20 bits count commits: db_impl.h)
[ $(((gen1 - gen0) & 1048575)) -le 3 ] || it_fail "old signed mail took $(((gen1 - gen0) & 1048575)) commits"
# Mail to several users carries a signature for each; the user's own is
# used wherever it stands (only the first was tried).
expect 0 S classify --user gina@example.net --train --format json "$T/h10.eml"
gsig=$(sed -n 's/.*"signature":"\([0-9a-f]*\)".*/\1/p' "$T/out")
expect 0 S classify --user bob@example.net --train --format json "$T/h10.eml"
bsig=$(sed -n 's/.*"signature":"\([0-9a-f]*\)".*/\1/p' "$T/out")
{ echo "X-Spamsift-Signature: $gsig"; echo "X-Spamsift-Signature: $bsig"; ham 10; } >"$T/two.eml"
expect 0 S train --user bob@example.net --spam "$T/two.eml"
grep -q '1 retrained by signature' "$T/out" || it_fail "train by the second signature: $(cat "$T/out")"
# The message's own signature line (at the end) is the one retrained, not
# one of the user's quoted from an earlier message in the thread, or put
# into the body by a sender (the quoted one was taken).
expect 0 S classify --user gina@example.net --train --format json "$T/s10.eml"
gspam=$(sed -n 's/.*"signature":"\([0-9a-f]*\)".*/\1/p' "$T/out")
{ ham 12; printf '\n> On Monday, you wrote:\n> !spamsift:%s!\n\n!spamsift:%s!\n' "$gspam" "$gsig"; } >"$T/reply.eml"
expect 0 S train --user gina@example.net --spam "$T/reply.eml"
grep -q '1 retrained by signature' "$T/out" || it_fail "train by the body signature: $(cat "$T/out")"
expect 0 S retrain --user gina@example.net --signature "$gsig" --spam
grep -q 'already learned as spam' "$T/out" || it_fail "the message's own signature was not retrained: $(cat "$T/out")"
# A forwarded copy whose mail program encoded the text again (base64): its
# signature is found in the decoded text (only raw lines were looked at).
expect 0 S classify --user kate@example.net --train --format json "$T/h10.eml"
ksig=$(sed -n 's/.*"signature":"\([0-9a-f]*\)".*/\1/p' "$T/out")
{ printf 'From: kate@example.net\nSubject: Fwd: notes\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
  printf -- '--b\nContent-Type: text/plain\n\nThis one was spam.\n\n--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n'
  { ham 10; printf '\n!spamsift:%s!\n' "$ksig"; } | base64
  printf -- '--b--\n'; } >"$T/fwd-b64.eml"
grep -q "$ksig" "$T/fwd-b64.eml" && it_fail "the signature is in the raw bytes"
expect 0 S train --user kate@example.net --spam "$T/fwd-b64.eml"
grep -q 'learned 1 messages as spam (1 retrained by signature)' "$T/out" ||
	it_fail "train by a signature in a base64 part: $(cat "$T/out" "$T/err")"
# A message of 200 MB (its body NUL bytes, a sparse file), its signature
# after them, in 350 MB of address space: train copied each message whole
# (twice the file with its mapping; up to 32 in flight), now only what the
# parser reads (MaxScanBytes), and still finds the signature at the end.
expect 0 S classify --user hugo@example.net --train --format json "$T/h10.eml"
hsig=$(sed -n 's/.*"signature":"\([0-9a-f]*\)".*/\1/p' "$T/out")
printf 'From: alice@example.org\nSubject: huge\n\nsee below\n' >"$T/huge.eml"
truncate -s 200M "$T/huge.eml" && printf '\n!spamsift:%s!\n' "$hsig" >>"$T/huge.eml" ||
	it_fail "cannot make a sparse file"
# (not in the sanitizer build: AddressSanitizer reserves terabytes of
# address space for its shadow memory, and would not start)
if ! ldd "$CLI_BIN" 2>/dev/null | grep -q libasan && (ulimit -v 358400) 2>/dev/null; then
	(ulimit -v 358400; export MALLOC_ARENA_MAX=1; S train --user hugo@example.net --spam "$T/huge.eml") >"$T/out" 2>"$T/err" ||
		it_fail "train of a 200 MB message in 350 MB: $(cat "$T/out" "$T/err")"
	grep -q 'learned 1 messages as spam (1 retrained by signature)' "$T/out" ||
		it_fail "a 200 MB message: $(cat "$T/out" "$T/err")"
fi
rm -f "$T/huge.eml"
# Messages whose header never ends (40 MB each without an empty line:
# sparse files, read as NUL bytes) in the same 350 MB: train copies a
# header whole, as the parser reads it, and copied up to 32 of them at
# once (12 here: 480 MB, the last ones "cannot parse: Cannot allocate
# memory"); the copies in flight now stay within 64 MiB beyond one message.
mkdir "$T/headers"
for i in 01 02 03 04 05 06 07 08 09 10 11 12; do
	printf 'From: alice@example.org\nSubject: header %s\n' "$i" >"$T/headers/$i.eml"
	truncate -s 40M "$T/headers/$i.eml" || it_fail "cannot make a sparse file"
done
if ! ldd "$CLI_BIN" 2>/dev/null | grep -q libasan && (ulimit -v 358400) 2>/dev/null; then
	(ulimit -v 358400; export MALLOC_ARENA_MAX=1; S train --user hugo@example.net --spam "$T/headers") >"$T/out" 2>"$T/err" ||
		it_fail "train of 12 headers of 40 MB in 350 MB: $(cat "$T/out" "$T/err")"
	grep -q 'learned 12 messages as spam' "$T/out" || it_fail "12 headers of 40 MB: $(cat "$T/out" "$T/err")"
fi
rm -rf "$T/headers"
# Past SignatureLife (not yet purged): retrain says so (exit 2), train
# learns the message's bytes instead; an upper-case id is the same id.
expect 0 S -o SignatureLife=1 retrain --user bob@example.net --signature "$(echo "$sig" | tr a-f A-F)" --spam
sqlite3 "$T/spamsift.db" "UPDATE signatures SET created = created - 3 * 86400" || it_fail "age the signatures"
expect 2 S -o SignatureLife=1 retrain --user bob@example.net --signature "$sig" --ham
grep -q "signature $sig: expired for bob@example.net (older than SignatureLife, 1 day)" "$T/err" ||
	it_fail "retrain of an expired signature: $(cat "$T/err")"
expect 2 S retrain --user bob@example.net --signature 0123456789abcdef0123456789abcdef --ham
grep -q 'unknown or expired' "$T/err" || it_fail "retrain of an unknown signature: $(cat "$T/err")"
# The signature (retrained to spam above) expired: train --ham learns the
# bytes as a correction, which unlearns the spam and counts the error (it
# learned them as corpus, and the model kept both classes of the message);
# train --spam of it again is unchanged.
expect 0 S stats --user bob@example.net --format tsv
before=$(sed -n 2p "$T/out" | cut -f2-5)
expect 0 S -o SignatureLife=1 train --user bob@example.net --spam "$T/sig.eml"
grep -q 'learned 0 messages as spam (0 retrained by signature), 1 unchanged (signature already spam)' "$T/out" ||
	it_fail "train as spam by an expired spam signature: $(cat "$T/out" "$T/err")"
expect 0 S -o SignatureLife=1 train --user bob@example.net --ham "$T/sig.eml"
grep -q 'learned 1 messages as ham (0 retrained by signature), 1 corrected from their text (signature expired)' "$T/out" ||
	it_fail "train by an expired signature: $(cat "$T/out" "$T/err")"
expect 0 S stats --user bob@example.net --format tsv
after=$(sed -n 2p "$T/out" | cut -f2-5)
echo "$before" | awk -v a="$after" '{ split(a, f, "\t"); if (f[1] != $1 - 1 || f[2] != $2 + 1 || f[3] != $3 + 1 || f[4] != $4) exit 1 }' ||
	it_fail "stats (spam, ham, FP, FN) before and after a correction by an expired signature: $before -> $after"
# The same with --source error given, as the Dovecot script gives it: the
# summary says so too (it did not).
ham 11 >"$T/h11.eml"
expect 0 S classify --user bob@example.net --train --format json "$T/h11.eml"
sig2=$(sed -n 's/.*"signature":"\([0-9a-f]*\)".*/\1/p' "$T/out")
grep -q '"class":"innocent"' "$T/out" && [ -n "$sig2" ] || it_fail "classify --train of h11: $(cat "$T/out")"
sqlite3 "$T/spamsift.db" "UPDATE signatures SET created = created - 3 * 86400" || it_fail "age the signatures"
{ echo "X-Spamsift-Signature: $sig2"; cat "$T/h11.eml"; } >"$T/sig2.eml"
expect 0 S -o SignatureLife=1 train --user bob@example.net --source error --spam "$T/sig2.eml"
grep -q 'learned 1 messages as spam (0 retrained by signature), 1 corrected from their text (signature expired)' "$T/out" ||
	it_fail "train --source error by an expired signature: $(cat "$T/out" "$T/err")"
# Reported again: unchanged, as with a live signature (the expired one
# kept its class, so the message was learned and counted twice).
expect 0 S stats --user bob@example.net --format tsv
before=$(sed -n 2p "$T/out" | cut -f2-5)
expect 0 S -o SignatureLife=1 train --user bob@example.net --source error --spam "$T/sig2.eml"
grep -q 'learned 0 messages as spam (0 retrained by signature), 1 unchanged (signature already spam)' "$T/out" ||
	it_fail "a second report by an expired signature: $(cat "$T/out" "$T/err")"
expect 0 S stats --user bob@example.net --format tsv
[ "$(sed -n 2p "$T/out" | cut -f2-5)" = "$before" ] ||
	it_fail "a second report by an expired signature changed the counts: $before -> $(sed -n 2p "$T/out" | cut -f2-5)"

# Without a Return-Path, classify judges the From: address a mail client
# shows, not one in its display name (which passed the whitelist).
expect 0 S whitelist add --user wendy@example.net ceo@bank.example
printf 'From: "ceo@bank.example" <spammer@evil.example>\nTo: wendy@example.net\nSubject: buy now\n\nbuy cheap pills now\n' >"$T/dn.eml"
expect 0 S classify --user wendy@example.net --format tsv "$T/dn.eml"
grep -q '	whitelisted	' "$T/out" && it_fail "a display name's address passed the whitelist: $(cat "$T/out")"
printf 'From: CEO <ceo@bank.example>\nTo: wendy@example.net\nSubject: hi\n\nhello\n' >"$T/dn2.eml"
expect 0 S classify --user wendy@example.net --format tsv "$T/dn2.eml"
grep -q '	whitelisted	' "$T/out" || it_fail "the whitelisted sender itself: $(cat "$T/out")"
expect 0 S whitelist del --user wendy@example.net ceo@bank.example

# A correction without a usable signature moves the sender in its history
# as a retrain by signature does: a sender whitelisted automatically and
# reported as spam is no longer whitelisted (its entry stayed). Its sender
# is the copy's Return-Path, or an expired signature's.
expect 0 S prefs set --user wendy@example.net whitelistThreshold 2
for i in 1 2 3; do
	{ printf 'Return-Path: <Friend@Example.org>\n'; ham "w$i"; } >"$T/w$i.eml"
	expect 0 S classify --user wendy@example.net --train --format tsv "$T/w$i.eml"
done
grep -q '	whitelisted	' "$T/out" || it_fail "the third message of a sender is not whitelisted: $(cat "$T/out")"
expect 0 S whitelist list --user wendy@example.net
grep -q '^friend@example.org	auto' "$T/out" || it_fail "no automatic entry: $(cat "$T/out")"
expect 0 S train --user wendy@example.net --source error --no-signature --spam "$T/w3.eml"
expect 0 S whitelist list --user wendy@example.net
grep -q 'friend@example.org' "$T/out" && it_fail "a sender reported as spam without a signature stays whitelisted: $(cat "$T/out")"
expect 0 S classify --user wendy@example.net --format tsv "$T/w2.eml"
grep -q '	whitelisted	' "$T/out" && it_fail "still whitelisted after the report: $(cat "$T/out")"
# ... and by an expired signature, whose sender it takes.
expect 0 S prefs set --user wendy@example.net whitelistThreshold 1
{ printf 'Return-Path: <pal@example.org>\n'; ham w4; } >"$T/w4.eml"
expect 0 S classify --user wendy@example.net --train --format json "$T/w4.eml"
{ printf 'Return-Path: <pal@example.org>\n'; ham w5; } >"$T/w5.eml"
expect 0 S classify --user wendy@example.net --train --format json "$T/w5.eml"
wsig=$(sed -n 's/.*"signature":"\([0-9a-f]*\)".*/\1/p' "$T/out")
grep -q '"class":"whitelisted"' "$T/out" && [ -n "$wsig" ] || it_fail "pal@ not whitelisted: $(cat "$T/out")"
sqlite3 "$T/spamsift.db" "UPDATE signatures SET created = created - 3 * 86400" || it_fail "age the signatures"
{ echo "X-Spamsift-Signature: $wsig"; ham w5; } >"$T/w5s.eml"
expect 0 S -o SignatureLife=1 train --user wendy@example.net --spam "$T/w5s.eml"
grep -q '1 corrected from their text (signature expired)' "$T/out" || it_fail "w5 by its expired signature: $(cat "$T/out" "$T/err")"
expect 0 S whitelist list --user wendy@example.net
grep -q 'pal@example.org' "$T/out" && it_fail "a sender reported as spam by an expired signature stays whitelisted: $(cat "$T/out")"

# A spam without a Subject, as delivered: the milter added "Subject: [SPAM]"
# and local(8) its fields on top; corrected to ham without its signature,
# it is unlearned as spam (the Subject of the tag alone, a token
# classification never saw, made it look never learned).
spam 12 | sed '/^Subject:/d' >"$T/nosubj.eml"
expect 0 S classify --user bob@example.net --train "$T/nosubj.eml"
grep -q ': spam ' "$T/out" || it_fail "classify --train of a spam without a Subject: $(cat "$T/out")"
{ printf 'Return-Path: <seller@pills.example>\nDelivered-To: bob@example.net\n'
  sed '1,/^$/{/^$/i\
Subject: [SPAM]
}' "$T/nosubj.eml"; } >"$T/nosubj-del.eml"
grep -q '^Subject: \[SPAM\]$' "$T/nosubj-del.eml" || it_fail "make the delivered copy: $(cat "$T/nosubj-del.eml")"
expect 0 S stats --user bob@example.net --format tsv
before=$(sed -n 2p "$T/out" | cut -f2)
expect 0 S train --user bob@example.net --source error --ham "$T/nosubj-del.eml"
expect 0 S stats --user bob@example.net --format tsv
[ "$(sed -n 2p "$T/out" | cut -f2)" = $((before - 1)) ] ||
	it_fail "a delivered spam without a Subject, corrected: spam learned $before -> $(sed -n 2p "$T/out" | cut -f2)"

# A decoded line break or TAB in a token, a file name or a user name does
# not split the lines and fields of the output: written \n and \t (a token
# of the sender's forged a result line of classify --explain); a byte that
# is not UTF-8 in a file name is \u00XX in JSON (the line was not JSON).
printf 'From: a@x.example\nX-Mailer: =?utf-8?q?x=0Aforged=09line?=\nSubject: hi\n\nhi there\n' >"$T/ctl.eml"
expect 0 S tokens "$T/ctl.eml"
grep -qx 'X-Mailer:full:x\\nforged\\tline' "$T/out" || it_fail "tokens: a token with a line break: $(grep X-Mailer "$T/out")"
grep -q '^forged' "$T/out" && it_fail "tokens: a token split the output"
expect 0 S classify --user bob@example.net --explain "$T/ctl.eml"
grep -v '^  ' "$T/out" | grep -vq "^$T/ctl.eml: " && it_fail "classify --explain: a line that is not the message's nor a factor: $(cat "$T/out")"
cp "$T/ctl.eml" "$(printf '%s/a\tb.eml' "$T")"
expect 0 S classify --user bob@example.net --format tsv "$(printf '%s/a\tb.eml' "$T")"
[ "$(awk -F '\t' '{ print NF }' "$T/out")" = 4 ] && grep -q 'a\\tb.eml' "$T/out" || it_fail "classify tsv of a name with a TAB: $(cat "$T/out")"
cp "$T/ctl.eml" "$(printf '%s/caf\351.eml' "$T")"
expect 0 S classify --user bob@example.net --format json "$(printf '%s/caf\351.eml' "$T")"
python3 -c 'import json, sys; d = json.loads(open(sys.argv[1], "rb").read()); assert d["path"].endswith("caf\u00e9.eml"), d' "$T/out" ||
	it_fail "classify json of a Latin-1 name: $(cat "$T/out")"
rm -f "$(printf '%s/a\tb.eml' "$T")" "$(printf '%s/caf\351.eml' "$T")"
# A user name with a control character (the milter maps "x\001"@d, as
# Postfix relays it) is reachable, and stats keeps it on one line.
expect 0 S whitelist add --user "$(printf 'x\ty@example.org')" q@r.example
expect 0 S stats --format tsv
grep -q '^x\\ty@example.org	' "$T/out" || it_fail "stats of a user name with a TAB: $(cat "$T/out")"

# tokens
# Standard input of exactly 256 MiB is read (the limit, "at most 256 MiB":
# it was refused), a byte more is not.
{ printf 'Subject: big\n\n'; head -c $((256 * 1024 * 1024 - 14)) /dev/zero | tr '\0' a; } >"$T/big.eml"
expect 0 S tokens - <"$T/big.eml"
echo >>"$T/big.eml"
expect 2 S tokens - <"$T/big.eml"
grep -q 'standard input larger than 268435456 bytes' "$T/err" || it_fail "tokens of 256 MiB + 1: $(cat "$T/err")"
rm -f "$T/big.eml"
expect 1 S tokens --bogus "$T/s10.eml"
expect 0 S tokens "$T/s10.eml"
grep -qx 'Subject:cheap' "$T/out" || it_fail "tokens: no Subject:cheap"
grep -q '^==> ' "$T/out" && it_fail "tokens of one message labelled it"
expect 0 S tokens "$T/spam.mbox"
[ "$(grep -c '^==> .*spam.mbox#[0-9]$' "$T/out")" = 3 ] || it_fail "tokens of an mbox: $(grep '^==>' "$T/out")"

# lists
expect 0 S whitelist add --user bob@example.net friend@example.com .trusted.example
expect 0 S whitelist list --user bob@example.net
grep -q '^friend@example.com	manual' "$T/out" || it_fail "whitelist list"
expect 1 S whitelist list --user bob@example.net friend@example.com
expect 2 S whitelist add --user bob@example.net 'bad pattern'
# Patterns that match no sender are refused (they were stored: "@" matched
# nothing, as neither did an empty local part or domain label).
for p in @ @example.org alice@ . .. ..example.org example..org example.org. 'a@b.'; do
	expect 2 S blocklist add --user bob@example.net "$p"
done
spam 40 | sed 's/^From: .*/From: friend@example.com/' >"$T/wl.eml"
# A user name's line feed is escaped in train's summary, as in stats (it
# forged a summary line); "--" ends tokens' options as everyone's; an option
# where prefs wants its verb is a usage error (it was taken for the verb).
expect 0 S train --user "$(printf 'evil\nu: learned 999 messages as ham@x.org')" --spam "$T/wl.eml"
[ "$(wc -l <"$T/out")" = 1 ] && grep -q '^evil\\nu: learned 999 messages as ham@x.org: learned 1 messages as spam' "$T/out" ||
	it_fail "train's summary of a name with a line feed: $(cat "$T/out")"
cp "$T/wl.eml" ./-dash.eml
expect 0 S tokens -- -dash.eml
grep -qx 'Subject:pills' "$T/out" || it_fail "tokens -- -dash.eml: $(head -n 3 "$T/out")"
rm -f ./-dash.eml
expect 1 S prefs --user bob@example.net get spamAction
# classify judges the lists by the envelope sender, as the milter does: the
# first Return-Path field of a delivered message, else the From: address.
# (By From: alone a spam that named a whitelisted sender was whitelisted.)
{ printf 'Return-Path: <seller@pills.example>\n'; cat "$T/wl.eml"; } >"$T/wl-rp.eml"
{ printf 'Return-Path:\n <Friend@Example.COM>\nReturn-Path: <seller@pills.example>\n'; cat "$T/wl.eml"; } >"$T/wl-rp2.eml"
expect 0 S classify --user bob@example.net "$T/wl.eml" "$T/wl-rp.eml" "$T/wl-rp2.eml"
grep -q "wl.eml: whitelisted " "$T/out" && grep -q "wl-rp2.eml: whitelisted " "$T/out" &&
	! grep -q "wl-rp.eml: whitelisted " "$T/out" ||
	it_fail "classify by the envelope sender: $(cat "$T/out")"
# ... read as the milter reads MAIL FROM: a quoted local part ("friend"@d,
# as Postfix writes the Return-Path of such a sender) made no address at
# all, and the lists did not judge it (the milter had whitelisted it).
{ printf 'Return-Path: <"Friend"@example.com>\n'; cat "$T/wl.eml"; } >"$T/wl-rp3.eml"
expect 0 S classify --user bob@example.net "$T/wl-rp3.eml"
grep -q "wl-rp3.eml: whitelisted " "$T/out" || it_fail "classify by a quoted envelope sender: $(cat "$T/out")"
expect 0 S whitelist del --user bob@example.net friend@example.com
expect 2 S whitelist del --user bob@example.net friend@example.com
expect 0 S blocklist add --user bob@example.net seller@pills.example
expect 0 S classify --user bob@example.net --format tsv "$T/h10.eml"
expect 0 S classify --user bob@example.net --format tsv "$T/s10.eml"
cut -f2 "$T/out" | grep -qx blocklisted || it_fail "blocklist not applied: $(cat "$T/out")"

# prefs and AllowOverride: rejectThreshold is not overridable in the sample.
expect 0 S prefs set --user bob@example.net spamAction quarantine
expect 0 S prefs get --user bob@example.net spamaction
[ "$(cat "$T/out")" = quarantine ] || it_fail "prefs get: $(cat "$T/out")"
expect 2 S prefs set --user bob@example.net spamAction explode
# Values are stored canonically, as import stores them (they were kept as
# typed: "YES" was listed and exported as YES).
expect 0 S prefs set --user bob@example.net showFactors YES
expect 0 S prefs set --user bob@example.net signatureLocation Message
expect 0 S prefs list --user bob@example.net
grep -q '^showFactors	on	user' "$T/out" && grep -q '^signatureLocation	message	user' "$T/out" ||
	it_fail "prefs set stored a value as typed: $(cat "$T/out")"
expect 0 S prefs unset --user bob@example.net showFactors
expect 0 S prefs unset --user bob@example.net signatureLocation
expect 2 S prefs set --user bob@example.net noSuchPref 1
expect 0 S prefs set --user bob@example.net rejectThreshold 0.5
grep -q 'not in AllowOverride' "$T/err" || it_fail "no AllowOverride warning"
expect 0 S prefs get --user bob@example.net rejectThreshold
[ "$(cat "$T/out")" != 0.5 ] || it_fail "a non-overridable preference took effect"
expect 0 S -o AllowOverride=rejectThreshold prefs get --user bob@example.net rejectThreshold
[ "$(cat "$T/out")" = 0.5 ] || it_fail "AllowOverride did not let the user value through"
expect 0 S prefs list --user bob@example.net
grep -q '^spamAction	quarantine	user' "$T/out" || it_fail "prefs list"
# trainingMode is the user's to choose in the sample, as in DSPAM's
# dspam.conf (it was not: prefs set warned and the site mode applied).
expect 0 S prefs set --user nora@example.net trainingMode notrain
grep -q 'not in AllowOverride' "$T/err" && it_fail "trainingMode not overridable in the sample"
learned() { expect 0 S stats --user nora@example.net --format tsv; sed -n 2p "$T/out" | cut -f2,3; }
before=$(learned)
expect 0 S classify --user nora@example.net --train "$T/s10.eml"
[ "$(learned)" = "$before" ] || it_fail "trainingMode notrain learned: $(cat "$T/out")"
expect 0 S prefs unset --user nora@example.net trainingMode
expect 0 S classify --user nora@example.net --train "$T/s10.eml"
[ "$(learned)" != "$before" ] || it_fail "classify --train learned nothing under the site mode"
# Stored values the milter does not take (an older version's, a hand edit)
# are listed as not in effect: the default is (they were listed as "user").
sqlite3 "$T/spamsift.db" "INSERT OR REPLACE INTO prefs(uid, key, value) SELECT id, 'spamSubject', X'5B5350414DE95D' FROM users WHERE name = 'bob@example.net'; INSERT OR REPLACE INTO prefs(uid, key, value) SELECT id, 'statisticalSedation', '99' FROM users WHERE name = 'bob@example.net'" ||
	it_fail "store bad preferences"
expect 0 S -o "AllowOverride=spamSubject statisticalSedation" prefs list --user bob@example.net
grep -q '^spamSubject	\[SPAM\]	default$' "$T/out" && grep -q '^statisticalSedation	0	default$' "$T/out" ||
	it_fail "prefs list shows values not in effect: $(cat "$T/out")"
sqlite3 "$T/spamsift.db" "DELETE FROM prefs WHERE key IN ('spamSubject', 'statisticalSedation')" ||
	it_fail "remove bad preferences"
# --format for list and prefs output: they printed text whatever was asked.
# The text form stays as it was: compared byte for byte with what json says.
cp "$T/out" "$T/prefs.txt"
expect 0 S prefs list --user bob@example.net --format json
python3 -c 'import json,sys
a = json.load(open(sys.argv[1]))
assert isinstance(a, list) and len(a) == 12, a
assert {"key": "spamAction", "value": "quarantine", "source": "user"} in a, a
assert {"key": "showFactors", "value": "off", "source": "default"} in a, a
text = "".join("%s\t%s\t%s\n" % (o["key"], o["value"], o["source"]) for o in a)
assert open(sys.argv[2]).read() == text, "text form changed"' "$T/out" "$T/prefs.txt" ||
	it_fail "prefs list json: $(cat "$T/out")"
expect 0 S prefs get --user bob@example.net --format json spamaction
python3 -c 'import json,sys
assert json.load(open(sys.argv[1])) == [{"key": "spamAction", "value": "quarantine", "source": "user"}]' \
	"$T/out" || it_fail "prefs get json: $(cat "$T/out")"
expect 0 S prefs get --user bob@example.net --format tsv spamAction
[ "$(cat "$T/out")" = "$(printf 'key\tvalue\tsource\nspamAction\tquarantine\tuser')" ] ||
	it_fail "prefs get tsv: $(cat "$T/out")"
# A command's options may follow its operands, as with GNU tools ("prefs
# get KEY --user U" was refused, "whitelist add P --user U" said --user is
# required); "--" ends them, so a value may start with "-".
expect 0 S prefs get spamAction --user bob@example.net
[ "$(cat "$T/out")" = quarantine ] || it_fail "prefs get KEY --user: $(cat "$T/out")"
expect 0 S prefs set spamSubject --user bob@example.net -- '-SPAM-'
expect 0 S prefs get --user bob@example.net spamSubject
[ "$(cat "$T/out")" = -SPAM- ] || it_fail "prefs set after --: $(cat "$T/out")"
expect 0 S prefs unset spamSubject --user bob@example.net
expect 0 S whitelist add late@example.com --user bob@example.net
expect 0 S whitelist list --user bob@example.net
grep -q '^late@example.com	manual' "$T/out" || it_fail "whitelist add P --user: $(cat "$T/out")"
expect 0 S whitelist del late@example.com --user bob@example.net
expect 0 S quarantine list --user bob@example.net
expect 1 S prefs set --user bob@example.net --format json spamAction tag
grep -q 'format json' "$T/err" || it_fail "prefs set --format json: $(head -n 1 "$T/err")"
expect 0 S whitelist list --user fmt@example.net --format json
[ "$(cat "$T/out")" = "[]" ] || it_fail "empty whitelist json: $(cat "$T/out")"
expect 0 S whitelist add --user fmt@example.net 'o"k@example.org' .fmt.example
expect 1 S whitelist add --user fmt@example.net --format json other@example.org
expect 0 S whitelist list --user fmt@example.net
cp "$T/out" "$T/list.txt"
expect 0 S whitelist list --user fmt@example.net --format json
python3 -c 'import json,sys
a = json.load(open(sys.argv[1]))
assert sorted(o["pattern"] for o in a) == [".fmt.example", "o\"k@example.org"], a
for o in a:
	assert o["source"] == "manual" and o["added_by"] and isinstance(o["added"], int), o
text = "".join("%s\t%s\t%s\t%d\n" % (o["pattern"], o["source"], o["added_by"], o["added"]) for o in a)
assert open(sys.argv[2]).read() == text, "text form changed"' "$T/out" "$T/list.txt" ||
	it_fail "whitelist list json: $(cat "$T/out")"
expect 0 S whitelist list --user fmt@example.net --format tsv
[ "$(head -n 1 "$T/out")" = "$(printf 'pattern\tsource\tadded_by\tadded')" ] &&
	[ "$(tail -n +2 "$T/out")" = "$(cat "$T/list.txt")" ] || it_fail "whitelist list tsv: $(cat "$T/out")"
expect 0 S prefs unset --user bob@example.net spamAction

# A user of a long address (the milter maps up to 4,095 bytes) is reached
# by --user: names of 512 bytes or more were "not a valid user".
long="$(printf '%0600d' 0 | tr 0 a)@example.net"
spam long >"$T/long.eml"
expect 0 S train --user "$long" --spam "$T/long.eml"
expect 0 S stats --user "$long" --format tsv
grep -q "^$long	1	" "$T/out" || it_fail "stats of a long user name: $(cut -c1-80 "$T/out")"
# A user whose training mode is notrain learns nothing: train says so and
# exits 2 (it said "learned 1 messages" and exited 0).
spam nt >"$T/nt.eml"
expect 2 S -o TrainingMode=notrain train --user nt@example.net --spam "$T/nt.eml"
grep -q 'learned 0 messages as spam' "$T/out" || it_fail "train under notrain: $(cat "$T/out")"
grep -q '1 messages not learned as spam: .*notrain' "$T/err" || it_fail "train under notrain: $(cat "$T/err")"
# ... also when it retrains by a signature (the error counted, nothing learned).
expect 0 S -o TrainingMode=notrain classify --user nt@example.net --train --format json "$T/nt.eml"
ntsig=$(sed -n 's/.*"signature":"\([0-9a-f]*\)".*/\1/p' "$T/out")
[ -n "$ntsig" ] || it_fail "no signature from classify --train under notrain"
{ echo "X-Spamsift-Signature: $ntsig"; spam nt; } >"$T/ntsig.eml"
cls=$(sed -n 's/.*"class":"\([a-z]*\)".*/\1/p' "$T/out")
[ "$cls" = spam ] && other=--ham || other=--spam
expect 2 S -o TrainingMode=notrain train --user nt@example.net $other "$T/ntsig.eml"
grep -q 'learned 0 messages' "$T/out" || it_fail "train by signature under notrain: $(cat "$T/out")"
grep -q '1 messages not learned as .*notrain' "$T/err" || it_fail "train by signature under notrain: $(cat "$T/err")"
# ... and retrain the same (it said "retrained as spam", exit 0).
expect 0 S -o TrainingMode=notrain classify --user nt@example.net --train --format json "$T/nt.eml"
ntsig=$(sed -n 's/.*"signature":"\([0-9a-f]*\)".*/\1/p' "$T/out")
expect 2 S -o TrainingMode=notrain retrain --user nt@example.net --signature "$ntsig" $other
grep -q 'counted as an error' "$T/out" || it_fail "retrain under notrain: $(cat "$T/out")"
grep -q 'not learned as .*notrain' "$T/err" || it_fail "retrain under notrain: $(cat "$T/err")"
# export / import round trip into another user.
expect 0 S export --user @global "$T/global.txt"
grep -q '^totals	9	9' "$T/global.txt" || it_fail "export totals: $(head -3 "$T/global.txt")"
expect 0 S import --user carol@example.net "$T/global.txt"
expect 0 S stats --user carol@example.net --format tsv
grep -q '^carol@example.net	9	9' "$T/out" || it_fail "import totals"
[ "$(grep -c '^token	[0-9a-f]\{16\}	' "$T/global.txt")" -gt 20 ] || it_fail "export has no tokens"
expect 0 S export --user carol@example.net "$T/carol.txt"
[ "$(grep -c '^token' "$T/carol.txt")" = "$(grep -c '^token' "$T/global.txt")" ] ||
	it_fail "import did not bring every token"
expect 0 S -o GlobalModel=off classify --user carol@example.net --format tsv "$T/s10.eml"
cut -f2 "$T/out" | grep -qx spam || it_fail "imported model does not classify: $(cat "$T/out")"
# A cut-short export (a pipe or disk that failed mid-way) is refused
# whole: it imported what it had and said so with exit 0. So is a record
# after the end record; a version 1 file (no end record) is still read.
tail -n 1 "$T/global.txt" | grep -qx end || it_fail "export has no end record: $(tail -n 2 "$T/global.txt")"
head -n 7 "$T/global.txt" >"$T/cut.txt"
expect 2 S import --user cut@example.net "$T/cut.txt"
grep -q 'no end record' "$T/err" || it_fail "import of a cut-short export: $(cat "$T/out" "$T/err")"
expect 2 S stats --user cut@example.net
{ cat "$T/global.txt"; printf 'token\t0123456789abcdef\t1\t0\n'; } >"$T/after.txt"
expect 2 S import --user cut@example.net "$T/after.txt"
grep -q 'after the end record' "$T/err" || it_fail "import of a record after the end: $(cat "$T/err")"
sed -e '1s/export 2/export 1/' -e '$d' "$T/global.txt" >"$T/v1.txt"
expect 0 S import --user v1@example.net "$T/v1.txt"
# A preference value with a TAB (prefs set takes it) comes back whole.
expect 0 S -o AllowOverride=spamSubject prefs set --user tab@example.net spamSubject "$(printf '[SPAM]\tx')"
expect 0 S export --user tab@example.net "$T/tab.txt"
expect 0 S import --user tab2@example.net "$T/tab.txt"
expect 0 S -o AllowOverride=spamSubject prefs get --user tab2@example.net spamSubject
[ "$(cat "$T/out")" = "$(printf '[SPAM]\tx')" ] || it_fail "a TAB in a preference did not come back: $(od -c "$T/out")"
# An export that a signal ends (a cron job's timeout, ^C) removes the new
# file it was writing: a partial export of the model's size was left
# beside FILE, one more each time. (One of 2,000,000 tokens takes long
# enough to be ended; should it end first, there is nothing to check.)
awk 'BEGIN { print "totals\t1\t0\t0\t0\t1\t0\t0\t0\t0"; for (i = 1; i <= 2000000; i++) printf "token\t%016x\t1\t0\n", i }' >"$T/many.txt"
expect 0 S import --user many@example.net "$T/many.txt"
rm -f "$T/many.txt"
mkdir "$T/killed"
"$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$T" export --user many@example.net "$T/killed/many.txt" & pid=$!
i=0
while [ -z "$(ls "$T/killed")" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
kill -TERM $pid 2>/dev/null
wait $pid
if [ $? = 143 ]; then
	[ -z "$(ls "$T/killed")" ] || it_fail "an export ended by SIGTERM left $(ls -s "$T/killed")"
else
	it_log "the export ended before SIGTERM: not checked"
fi
rm -rf "$T/killed"
printf 'garbage line\n' >"$T/bad.txt"
expect 2 S import --user carol@example.net "$T/bad.txt"
# A file without records (empty, or the header alone) is not an export: it
# was "imported" and made an empty user.
printf '# spamsift export 1\n' >"$T/header.txt"
for f in "$T/empty.eml" "$T/header.txt" /dev/null; do
	expect 2 S import --user empty@example.net "$f"
	grep -q 'no records' "$T/err" || it_fail "import of $f: $(cat "$T/out" "$T/err")"
done
expect 2 S import --user empty@example.net - </dev/null
expect 2 S stats --user empty@example.net
# Tokens with more hits than the user's learned messages are not an export
# (and would make `db check` call the shared store damaged): refused whole.
printf 'white\tpal@example.org\tmanual\t0\tme\ntoken\t0123456789abcdef\t5\t0\n' >"$T/forged.txt"
expect 2 S import --user dan@example.net "$T/forged.txt"
grep -q 'more hits than' "$T/err" || it_fail "forged import: $(cat "$T/err")"
expect 0 S whitelist list --user dan@example.net
grep -q pal@example.org "$T/out" && it_fail "a refused import left a list entry"
expect 2 S stats --user dan@example.net     # nor the user it would have made
# Totals past the bound once added to the user's are refused (a backup
# imported five times overflowed into a floating-point number).
printf 'totals\t0\t0\t0\t0\t0\t0\t2305843009213693951\t0\t0\n' >"$T/big.txt"
expect 0 S import --user big@example.net "$T/big.txt"
expect 2 S import --user big@example.net "$T/big.txt"
expect 0 S stats --user big@example.net --format tsv
cut -f8 "$T/out" | grep -qx 2305843009213693951 || it_fail "totals after a refused import: $(cat "$T/out")"
# ... and so are token hits (they reached 4294967294, an export no import took).
printf 'totals\t2147483647\t0\t0\t0\t0\t0\t0\t0\t0\ntoken\t0123456789abcdef\t2147483647\t0\n' >"$T/hits.txt"
expect 0 S import --user hits@example.net "$T/hits.txt"
expect 2 S import --user hits@example.net "$T/hits.txt"
grep -q 'more than 2147483647 hits' "$T/err" || it_fail "second import of maximal hits: $(cat "$T/err")"
# Negative totals would take from counts the user's tokens rely on.
printf 'totals\t-5\t0\t0\t0\t0\t0\t0\t0\t0\n' >"$T/negative.txt"
expect 2 S import --user carol@example.net "$T/negative.txt"
# Corpus-fed messages are counted in *_learned too, not a second bound:
# hits beyond the learned count are refused even when corpusfed is set.
printf 'totals\t1\t1\t0\t0\t1\t1\t0\t0\t1\ntoken\t00000000000abcde\t3\t0\n' >"$T/twice.txt"
expect 2 S import --user frida@example.net "$T/twice.txt"
grep -q 'more hits than' "$T/err" || it_fail "import counted fed messages twice: $(cat "$T/err")"
# Fields as export writes them, values as the commands take them: each of
# these lines alone is refused (they were read loosely and stored).
for line in 'token\t-1\t2\t0' 'token\t0x12\t2\t0' 'token\t0123456789abcdef\t5junk\t0' \
    'token\t0123456789abcdef\t\t0' 'white\t@@@ not a pattern\tmanual\t0\tme' \
    'white\tpal@example.org\tmanual\t-99999999999999999999\tme' \
    'block\tx.example\tsometimes\t0\tme' 'pref\tnoSuchPref\ton'; do
	printf 'totals\t9\t9\t0\t0\t0\t0\t0\t0\t0\n%b\n' "$line" >"$T/loose.txt"
	expect 2 S import --user frida@example.net "$T/loose.txt"
done
# A preference is stored under its canonical name and value, as prefs set
# stores it ("trainingmode" stayed apart: unseen by prefs list and unset,
# yet read by the filter); counts past 2^31 in the totals are taken.
printf 'totals\t1\t1\t0\t0\t0\t0\t0\t3000000000\t0\npref\ttrainingmode\tNoTrain\n' >"$T/canon.txt"
expect 0 S import --user frida@example.net "$T/canon.txt"
expect 0 S -o AllowOverride=trainingMode prefs list --user frida@example.net
grep -q '^trainingMode	notrain	user' "$T/out" || it_fail "imported preference not canonical: $(cat "$T/out")"
expect 0 S prefs unset --user frida@example.net trainingMode
expect 0 S -o AllowOverride=trainingMode prefs list --user frida@example.net
grep -q '^trainingMode	teft	default' "$T/out" || it_fail "imported preference survived unset: $(cat "$T/out")"
# A list pattern is stored lowercase, as whitelist add stores it and as
# senders are compared (an imported "Alice@Example.ORG" matched no sender).
printf 'totals\t1\t1\t0\t0\t0\t0\t0\t0\t0\nblock\tAlice@Example.ORG\tmanual\t0\tme\n' >"$T/case.txt"
expect 0 S import --user gus@example.net "$T/case.txt"
expect 0 S blocklist list --user gus@example.net
grep -q '^alice@example.org	manual' "$T/out" || it_fail "imported pattern case: $(cat "$T/out")"
expect 0 S classify --user gus@example.net --format tsv "$T/h10.eml"
cut -f2 "$T/out" | grep -qx blocklisted || it_fail "imported pattern not applied: $(cat "$T/out")"
# What an older spamsift stored loosely ("alice@", any case) still goes
# with del, and its backups still import, without it (they were refused
# whole).
sqlite3 "$T/spamsift.db" "INSERT INTO lists(uid, kind, pattern, automatic, added, added_by) SELECT id, 1, 'Old@', 0, 0, 'me' FROM users WHERE name = 'gus@example.net'" ||
	it_fail "plant an old pattern"
expect 0 S export --user gus@example.net "$T/gus.txt"
grep -q 'Old@' "$T/gus.txt" || it_fail "old pattern not exported: $(cat "$T/gus.txt")"
expect 0 S import --user hal@example.net "$T/gus.txt"
grep -q 'matches no sender.*skipped' "$T/err" || it_fail "old pattern on import: $(cat "$T/err")"
expect 0 S blocklist list --user hal@example.net
grep -q '^alice@example.org	' "$T/out" && ! grep -q 'Old@' "$T/out" || it_fail "import with an old pattern: $(cat "$T/out")"
# So does a preference value an older spamsift stored that prefs set
# now refuses (a spamSubject not in UTF-8): not in effect, the default is,
# and its backups were refused whole.
sqlite3 "$T/spamsift.db" "INSERT INTO prefs(uid, key, value) SELECT id, 'spamSubject', CAST(X'5B53CF5D' AS TEXT) FROM users WHERE name = 'gus@example.net'" ||
	it_fail "plant an old preference"
expect 0 S -o AllowOverride=spamSubject prefs list --user gus@example.net
grep -q '^spamSubject	\[SPAM\]	default' "$T/out" || it_fail "old preference in effect: $(cat "$T/out")"
expect 0 S export --user gus@example.net "$T/gus-pref.txt"
grep -q '^pref	spamSubject	' "$T/gus-pref.txt" || it_fail "old preference not exported: $(cat "$T/gus-pref.txt")"
expect 0 S import --user hal2@example.net "$T/gus-pref.txt"
grep -q ':[0-9]*: preference value not in effect.*skipped' "$T/err" || it_fail "old preference on import: $(cat "$T/err")"
expect 0 S export --user hal2@example.net "$T/hal2.txt"
grep -q '^pref' "$T/hal2.txt" && it_fail "old preference imported: $(cat "$T/hal2.txt")"
grep -q '^block	alice@example.org	' "$T/hal2.txt" || it_fail "import with an old preference: $(cat "$T/hal2.txt")"
expect 0 S blocklist del --user gus@example.net Old@
expect 0 S blocklist list --user gus@example.net
grep -q 'Old@' "$T/out" && it_fail "old pattern not deleted"
# Every list entry an export holds comes back: automatic whitelisting
# stores a sender as the milter reads it, a quoted local part unquoted
# ("john doe"@d with its blank, a TAB or control character Postfix
# relays) and up to 511 bytes; import refused the whole backup (or
# skipped the entry as matching no sender). whitelist add takes them too.
long=$(printf '%0499d@example.org' 0)
printf 'Return-Path: <%s>\nFrom: x@example.org\nSubject: hi\n\nhello there\n' "$long" >"$T/long.eml"
expect 0 S -o AllowOverride=whitelistThreshold prefs set --user ivy@example.net whitelistThreshold 1
expect 0 S -o AllowOverride=whitelistThreshold classify --train --user ivy@example.net "$T/long.eml"
for p in 'john doe@example.org' "$(printf 'x\ty@example.org')" "$(printf 'x\001y@example.org')" 'a<b@example.org' 'a>b@example.org'; do
	sqlite3 "$T/spamsift.db" "INSERT INTO lists(uid, kind, pattern, automatic, added, added_by) SELECT id, 0, '$p', 1, 7, 'auto' FROM users WHERE name = 'ivy@example.net'" ||
		it_fail "plant $p"
done
expect 0 S whitelist list --user ivy@example.net
[ "$(wc -l <"$T/out")" = 6 ] && grep -q "^$long	auto" "$T/out" || it_fail "automatic entries: $(cut -c1-40 "$T/out")"
expect 0 S export --user ivy@example.net "$T/ivy.txt"
expect 0 S import --user jo@example.net "$T/ivy.txt"
[ -s "$T/err" ] && it_fail "import of automatic entries: $(cat "$T/err")"
expect 0 S export --user jo@example.net "$T/jo.txt"
[ "$(grep -v '^token' "$T/ivy.txt")" = "$(grep -v '^token' "$T/jo.txt")" ] ||
	it_fail "list entries did not come back: $(diff "$T/ivy.txt" "$T/jo.txt" | cut -c1-60)"
expect 0 S whitelist add --user jo@example.net '"Ann Lee"@Example.org' "$(printf '%0498d@example.org' 0)"
expect 0 S whitelist list --user jo@example.net
grep -q '^ann lee@example.org	manual' "$T/out" || it_fail "quoted pattern: $(cut -c1-40 "$T/out")"
for p in 'x@y>.example.org' ' x@example.org' 'x@exa mple.org' "$(printf '%0500d@example.org' 0)"; do
	expect 2 S whitelist add --user jo@example.net "$p"
done
expect 0 S stats --user frida@example.net --format json
grep -q '"innocent_classified":3000000000' "$T/out" || it_fail "large total: $(cat "$T/out")"
expect 0 S db check

# stats formats, db commands, config.
expect 0 S stats
grep -q '^@global ' "$T/out" || it_fail "stats text"
expect 0 S stats --format json
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" || it_fail "stats json invalid"
expect 0 S db check
# Lifetimes of 0 keep everything (tokens last seen today would go with a
# cutoff of now); then a purge with the defaults.
sqlite3 "$T/spamsift.db" "UPDATE tokens SET last_hit = last_hit - 400; UPDATE signatures SET created = created - 400 * 86400" ||
	it_fail "age the store"
ntok=$(sqlite3 "$T/spamsift.db" "SELECT count(*) FROM tokens")
expect 0 S -o PurgeStaleDays=0 -o SignatureLife=0 -o QuarantineLife=0 db purge
grep -q '^purged 0 tokens, 0 signatures, 0 quarantined' "$T/out" || it_fail "lives of 0 purged: $(cat "$T/out")"
[ "$(sqlite3 "$T/spamsift.db" "SELECT count(*) FROM tokens")" = "$ntok" ] || it_fail "lives of 0: tokens lost"
expect 0 S -o PurgeMaxHits=1000 db purge
grep -q '^purged [1-9][0-9]* tokens, [1-9][0-9]* signatures' "$T/out" || it_fail "purge of an aged store: $(cat "$T/out")"
expect 0 S db vacuum
expect 0 S config check "$SAMPLE_CONF"
# The accounts the file names, as the milter's -t checks them (it said ok
# to a file the milter refused to start with).
{ cat "$SAMPLE_CONF"; printf 'User no-such-user-here\nSocketGroup no-such-group-here\n'; } >"$T/acct.conf"
expect 2 S config check "$T/acct.conf"
grep -q 'User: unknown user no-such-user-here; SocketGroup: unknown group no-such-group-here' "$T/err" ||
	it_fail "config check of unknown accounts: $(cat "$T/err")"
# A broken -c does not stop `config check FILE` from checking FILE.
printf 'Hoem /tmp\n' >"$T/broken.conf"
expect 0 "$CLI_BIN" -c "$T/broken.conf" config check "$SAMPLE_CONF"
expect 2 "$CLI_BIN" -c "$SAMPLE_CONF" config check "$T/broken.conf"
grep -q 'Hoem: unknown key (did you mean Home?)' "$T/err" || it_fail "config check of a broken file: $(cat "$T/err")"
# The alias table is checked too: the milter would not start with it.
{ cat "$SAMPLE_CONF"; echo "UserMap alias"; echo "AliasFile $T/no-such-aliases"; } >"$T/alias.conf"
expect 2 "$CLI_BIN" config check "$T/alias.conf"
grep -q 'no-such-aliases' "$T/err" || it_fail "config check of a missing alias file: $(cat "$T/err")"
printf 'Home /tmp\nBogusKey 1\n' >"$T/bad.conf"
expect 2 S config check "$T/bad.conf"
grep -q 'bad.conf:2' "$T/err" || it_fail "config check does not name file:line: $(cat "$T/err")"
expect 0 S config show
grep -q '^StorePath ' "$T/out" || it_fail "config show"
# Trust comes from the file only: -o Trust= is refused with a warning, and
# config show does not list it.
expect 0 S -o 'Trust = mallory' config show
grep -q 'Trust = mallory ignored' "$T/err" || it_fail "-o Trust warning: $(cat "$T/err")"
! grep -q mallory "$T/out" || it_fail "config show lists an ignored -o Trust"

# quarantine release through a stand-in sendmail that records its argv.
cat >"$T/sendmail" <<'EOS'
#!/bin/sh
printf '%s\n' "$@" >"$(dirname "$0")/sendmail.args"
env >"$(dirname "$0")/sendmail.env"
cat >"$(dirname "$0")/sendmail.msg"
EOS
chmod +x "$T/sendmail"
expect 1 S quarantine list --user bob@example.net 1
expect 1 S quarantine expire --user bob@example.net 1
expect 0 S quarantine list --user bob@example.net
[ -s "$T/out" ] && it_fail "empty quarantine listed something"
expect 2 S quarantine show --user bob@example.net 42
# A decoded Subject may hold a line break and a tab (the sender chose
# them): each message is still one line of five fields (a forged line
# offered another message's id to scripts).
uid=$(sqlite3 "$T/spamsift.db" "SELECT id FROM users WHERE name = 'bob@example.net'")
sqlite3 "$T/spamsift.db" "INSERT INTO quarantine(uid, sender, recipients, subject,
    signature, probability, time, data) VALUES($uid, 'spammer@bad.example',
    'bob@example.net', 'hi' || char(10) || '999' || char(9) || 'x', '', 1.0,
    strftime('%s', 'now'), CAST('Subject: hi' || char(13, 10, 13, 10) ||
    'body' || char(13, 10) AS BLOB))" || it_fail "insert a quarantined message"
expect 0 S quarantine list --user bob@example.net
[ "$(wc -l <"$T/out")" = 1 ] && [ "$(awk -F '\t' '{ print NF }' "$T/out")" = 5 ] ||
	it_fail "quarantine list of a Subject with a line break: $(cat "$T/out")"
qid=$(cut -f1 "$T/out")
# A failed release keeps the message; a release delivers its exact bytes.
printf '#!/bin/sh\ncat >/dev/null\nexit 75\n' >"$T/sendmail-fails"
chmod +x "$T/sendmail-fails"
expect 2 S -o SendmailPath="$T/sendmail-fails" quarantine release --user bob@example.net "$qid"
expect 0 S quarantine list --user bob@example.net
[ "$(cut -f1 "$T/out")" = "$qid" ] || it_fail "a failed release lost the message"
expect 0 S quarantine show --user bob@example.net "$qid"
cp "$T/out" "$T/quarantined.msg"
# (MAIL_CONFIG, the Postfix instance to release through, is passed on; the
# rest of the environment is not)
expect 0 env MAIL_CONFIG=/etc/postfix-out SECRET=x "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$T" \
	-o SendmailPath="$T/sendmail" quarantine release --user bob@example.net "$qid"
grep -qx 'MAIL_CONFIG=/etc/postfix-out' "$T/sendmail.env" && ! grep -q SECRET "$T/sendmail.env" ||
	it_fail "release's environment: $(cat "$T/sendmail.env")"
cmp -s "$T/quarantined.msg" "$T/sendmail.msg" || it_fail "release changed the message's bytes"
[ "$(tr '\n' ' ' <"$T/sendmail.args")" = "-i -f spammer@bad.example -- bob@example.net " ] ||
	it_fail "release: sendmail argv: $(cat "$T/sendmail.args")"
expect 0 S quarantine list --user bob@example.net
[ -s "$T/out" ] && it_fail "released message still quarantined: $(cat "$T/out")"
expect 2 S quarantine release --user bob@example.net 'x;rm -rf /'

# A release delivers a message at most once, and never loses it. The
# stand-in sendmail takes a second and keeps each message it delivers as
# delivered.PID (slow-started says the first one is delivering; with
# slow-fails there when it starts, it fails instead).
quar_add() { # USER [STORE]: quarantine a message for USER, print its id
	sqlite3 "${2:-$T/spamsift.db}" "INSERT INTO quarantine(uid, sender, recipients,
	    subject, signature, probability, time, data) SELECT id,
	    'spammer@bad.example', 'bob@example.net', 'race', '', 1.0,
	    strftime('%s', 'now'), CAST('Subject: race' || char(10, 10) ||
	    'body' || char(10) AS BLOB) FROM users WHERE name = '$1';
	    SELECT last_insert_rowid()"
}
cat >"$T/sendmail-slow" <<'EOS'
#!/bin/sh
d=$(dirname "$0")
cat >"$d/slow.$$"
[ -e "$d/slow-fails" ] && fails=1 || fails=0
: >"$d/slow-started"
sleep 1
[ $fails = 1 ] && exit 75
mv "$d/slow.$$" "$d/delivered.$$"
EOS
chmod +x "$T/sendmail-slow"
slow() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$T" -o SendmailPath="$T/sendmail-slow" "$@"; }
slow_started() { # wait (at most 10 s) until a slow sendmail runs
	i=0
	while [ ! -e "$T/slow-started" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e "$T/slow-started" ] || it_fail "the slow sendmail never ran"
}
race_reset() { rm -f "$T"/delivered.* "$T"/slow.* "$T/slow-started" "$T/slow-fails"; }
delivered() { find "$T" -maxdepth 1 -name 'delivered.*' | wc -l; }
# Two releases of one message at once (two administrators, a double
# click): the second starts while the first is delivering (both found
# the message and delivered it); it waits, finds the message gone and
# says so.
race_reset
qid=$(quar_add bob@example.net) && [ -n "$qid" ] || it_fail "quarantine a message to release twice"
slow quarantine release --user bob@example.net "$qid" >"$T/r1.out" 2>"$T/r1.err" & p1=$!
slow_started
slow quarantine release --user bob@example.net "$qid" >"$T/r2.out" 2>"$T/r2.err" & p2=$!
wait $p1; s1=$?
wait $p2; s2=$?
[ "$(delivered)" = 1 ] || it_fail "two releases at once delivered the message $(delivered) times"
[ "$s1 $s2" = "0 2" ] || it_fail "two releases at once exited $s1 and $s2: $(cat "$T/r1.err" "$T/r2.err")"
grep -q "^released $qid\$" "$T/r1.out" || it_fail "first release: $(cat "$T/r1.out" "$T/r1.err")"
grep -q "quarantine $qid: no such message (already released or deleted?)" "$T/r2.err" ||
	it_fail "second release's error: $(cat "$T/r2.err")"
[ -s "$T/r2.out" ] && it_fail "second release printed: $(cat "$T/r2.out")"
# A delete while a release delivers: waits, then finds it gone.
race_reset
qid=$(quar_add bob@example.net)
slow quarantine release --user bob@example.net "$qid" >"$T/r1.out" 2>"$T/r1.err" & p1=$!
slow_started
expect 2 S quarantine delete --user bob@example.net "$qid"
grep -q "quarantine $qid: no such message (already released" "$T/err" || it_fail "delete during a release: $(cat "$T/err")"
wait $p1 || it_fail "release during a delete: $(cat "$T/r1.err")"
[ "$(delivered)" = 1 ] || it_fail "release during a delete delivered $(delivered) times"
# A release whose delivery fails while another waits: the message stays
# quarantined, and the one that waited delivers it.
race_reset
qid=$(quar_add bob@example.net)
: >"$T/slow-fails"
slow quarantine release --user bob@example.net "$qid" >"$T/r1.out" 2>"$T/r1.err" & p1=$!
slow_started
rm -f "$T/slow-fails"
expect 0 S -o SendmailPath="$T/sendmail" quarantine release --user bob@example.net "$qid"
wait $p1 && it_fail "a failed delivery released the message"
grep -q "quarantine $qid: not delivered, still quarantined" "$T/r1.err" || it_fail "failed release: $(cat "$T/r1.err")"
[ "$(delivered)" = 0 ] && grep -q '^Subject: race' "$T/sendmail.msg" ||
	it_fail "the release after a failed one did not deliver"
expect 0 S quarantine list --user bob@example.net
[ -s "$T/out" ] && it_fail "released message still quarantined: $(cat "$T/out")"
# A release killed while it delivers leaves the message quarantined and
# releasable (its sendmail, still running, does not keep it locked).
race_reset
rm -f "$T/sendmail.msg"
qid=$(quar_add bob@example.net)
cat >"$T/sendmail-hangs" <<'EOS'
#!/bin/sh
echo $$ >"$(dirname "$0")/hangs.pid"
exec sleep 60
EOS
chmod +x "$T/sendmail-hangs"
rm -f "$T/hangs.pid"
(exec "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$T" -o SendmailPath="$T/sendmail-hangs" \
	quarantine release --user bob@example.net "$qid" >/dev/null 2>&1) & p1=$!
i=0
while [ ! -s "$T/hangs.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$T/hangs.pid" ] || it_fail "the hanging sendmail never ran"
kill -KILL $p1
wait $p1 2>/dev/null  # (the shell says "Killed")
expect 0 S quarantine list --user bob@example.net
[ "$(cut -f1 "$T/out")" = "$qid" ] || it_fail "a killed release lost the message: $(cat "$T/out")"
S -o SendmailPath="$T/sendmail" quarantine release --user bob@example.net "$qid" >"$T/out" 2>"$T/err"
s1=$?
kill "$(cat "$T/hangs.pid")" 2>/dev/null
[ "$s1" = 0 ] || it_fail "release after a killed one: exited $s1: $(cat "$T/err")"
grep -q '^Subject: race' "$T/sendmail.msg" || it_fail "release after a killed one did not deliver"
# A store that another writer holds locked (a long train, an import):
# the release waits, then fails before delivering, and the message stays
# for a later release, which delivers it once. It delivered first and
# then could not delete it: a retry delivered it a second time.
race_reset
qid=$(quar_add bob@example.net)
mkfifo "$T/lock.fifo"
sqlite3 "$T/spamsift.db" <"$T/lock.fifo" >/dev/null & lockp=$!
exec 3>"$T/lock.fifo"
echo "BEGIN IMMEDIATE; SELECT 1;" >&3
sleep 0.5
expect 3 slow quarantine release --user bob@example.net "$qid"
echo "ROLLBACK;" >&3
exec 3>&-
wait $lockp
[ "$(delivered)" = 0 ] || it_fail "a release on a locked store delivered the message"
expect 0 S quarantine list --user bob@example.net
[ "$(cut -f1 "$T/out")" = "$qid" ] || it_fail "a release on a locked store lost the message: $(cat "$T/out")"
expect 0 slow quarantine release --user bob@example.net "$qid"
[ "$(delivered)" = 1 ] || it_fail "release after a locked store delivered $(delivered) times"

# A notrain user's release says the message was not learned.
qid=$(quar_add bob@example.net)
expect 0 S -o TrainingMode=notrain -o SendmailPath="$T/sendmail" quarantine release --user bob@example.net "$qid"
grep -q "bob@example.net: the released message was not learned: the user's trainingMode is notrain" "$T/err" ||
	it_fail "release for a notrain user: $(cat "$T/out" "$T/err")"
# Several IDs: one that is not there is said, and the others are still
# released or deleted (they were skipped without a word); exit status 2.
a=$(quar_add bob@example.net); b=$(quar_add bob@example.net)
expect 2 S -o SendmailPath="$T/sendmail" quarantine release --user bob@example.net 999999 "$a"
grep -q "quarantine 999999: no such message" "$T/err" && grep -q "^released $a\$" "$T/out" ||
	it_fail "release of a missing and a present id: $(cat "$T/out" "$T/err")"
expect 2 S quarantine delete --user bob@example.net 999999 "$b"
expect 0 S quarantine list --user bob@example.net
grep -q "^$a	\|^$b	" "$T/out" && it_fail "ids after a missing one were skipped: $(cat "$T/out")"
# ... but a malformed id is refused before any is used.
c=$(quar_add bob@example.net)
expect 2 S quarantine delete --user bob@example.net "$c" x1
expect 0 S quarantine list --user bob@example.net
grep -q "^$c	" "$T/out" || it_fail "a delete with a malformed id deleted $c"
expect 0 S quarantine delete --user bob@example.net "$c"

# user delete: a departed mailbox's data goes, another user's stays; its
# quarantined mail only with --force.
ham 50 >"$T/gone.eml"
expect 0 S train --user gone@example.net --ham "$T/gone.eml"
expect 0 S whitelist add --user gone@example.net pal@example.org
expect 0 S prefs set --user gone@example.net spamAction tag
qid=$(quar_add gone@example.net)
sqlite3 "$T/spamsift.db" "SELECT count(*) FROM tokens WHERE uid = (SELECT id FROM users WHERE name = 'bob@example.net')" >"$T/bob.tokens"
expect 2 S user delete --user gone@example.net
grep -q 'gone@example.net has 1 quarantined message: .*--force' "$T/err" || it_fail "user delete with quarantine: $(cat "$T/err")"
expect 0 S quarantine list --user gone@example.net
[ "$(cut -f1 "$T/out")" = "$qid" ] || it_fail "a refused user delete lost quarantined mail"
# --force waits for a release in progress (which holds the quarantine lock)
flock "$T/spamsift.db-quarantine.lock" sleep 2 &
lockp=$!
sleep 0.3
t0=$(date +%s%N)
expect 0 S user delete --force --user gone@example.net
t1=$(date +%s%N)
wait $lockp
[ $(( (t1 - t0) / 1000000 )) -ge 1000 ] ||
	it_fail "user delete --force did not wait for the quarantine lock ($(( (t1 - t0) / 1000000 )) ms)"
grep -qx 'deleted gone@example.net and 1 quarantined message' "$T/out" || it_fail "user delete: $(cat "$T/out")"
for t in tokens totals signatures lists senders prefs quarantine; do
	n=$(sqlite3 "$T/spamsift.db" "SELECT count(*) FROM $t WHERE uid = (SELECT id FROM users WHERE name = 'gone@example.net')")
	[ "$n" = 0 ] || it_fail "user delete left $n rows in $t"
done
[ "$(sqlite3 "$T/spamsift.db" "SELECT count(*) FROM tokens WHERE uid = (SELECT id FROM users WHERE name = 'bob@example.net')")" = "$(cat "$T/bob.tokens")" ] ||
	it_fail "user delete touched another user's tokens"
# A release learns its message under the quarantine lock: a user delete
# --force that waited for it deletes that learning too (the release learned
# after giving up the lock, and the deleted user could keep a model of it).
race_reset
expect 0 S train --user gone2@example.net --ham "$T/gone.eml"
qid=$(quar_add gone2@example.net)
slow quarantine release --user gone2@example.net "$qid" >"$T/r1.out" 2>"$T/r1.err" & p1=$!
slow_started
expect 0 S user delete --force --user gone2@example.net
wait $p1 || it_fail "release during a user delete --force: $(cat "$T/r1.err")"
[ "$(delivered)" = 1 ] || it_fail "release during a user delete --force delivered $(delivered) times"
for t in tokens totals signatures; do
	n=$(sqlite3 "$T/spamsift.db" "SELECT count(*) FROM $t WHERE uid = (SELECT id FROM users WHERE name = 'gone2@example.net')")
	[ "$n" = 0 ] || it_fail "a release's learning outlived the user delete --force that waited for it: $n rows in $t"
done
# Nothing left: no --force needed. It too waits for a release in progress
# (the release learns its message last: learned after the delete, it left
# the deleted user a model of one message).
flock "$T/spamsift.db-quarantine.lock" sleep 2 &
lockp=$!
sleep 0.3
t0=$(date +%s%N)
expect 0 S user delete --user gone@example.net
t1=$(date +%s%N)
wait $lockp
[ $(( (t1 - t0) / 1000000 )) -ge 1000 ] ||
	it_fail "user delete did not wait for the quarantine lock ($(( (t1 - t0) / 1000000 )) ms)"
expect 2 S user delete --user nobody-here@example.net
for g in @global @GLOBAL '<@global>'; do
	expect 1 S user delete --user "$g"
done
expect 1 S user frob --user bob@example.net
expect 1 S user delete
expect 0 S db check

# Store errors exit 3.
printf 'this is not a database, just some text that is long enough.................................' >"$T/junk.db"
expect 3 S --db "$T/junk.db" stats
grep -q 'junk.db' "$T/err" || it_fail "store error does not name the file"
# An export that fails half way (here: a damaged token table) leaves nothing
# that imports as a backup (the totals, lists and preferences were kept),
# and over the last good backup it leaves that one as it was (it was
# emptied: a nightly export that failed once left no backup at all).
cp "$T/spamsift.db" "$T/damaged.db"
expect 0 S --db "$T/damaged.db" export --user @global "$T/backup.txt"
chmod 640 "$T/backup.txt"
cp "$T/backup.txt" "$T/backup.want"
ps=$(sqlite3 "$T/damaged.db" "PRAGMA page_size")
rp=$(sqlite3 "$T/damaged.db" "SELECT rootpage FROM sqlite_master WHERE name = 'tokens'")
head -c "$ps" /dev/urandom | dd of="$T/damaged.db" bs="$ps" seek=$((rp - 1)) conv=notrunc 2>/dev/null
expect 3 S --db "$T/damaged.db" export --user @global "$T/partial.txt"
[ -e "$T/partial.txt" ] && it_fail "a failed export left a file of $(wc -l <"$T/partial.txt") lines"
# The error said is the one that stopped it, once.
[ "$(grep -c 'export: .*list tokens: ' "$T/err")" = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] ||
	it_fail "failed export's error: $(cat "$T/err")"
expect 3 S --db "$T/damaged.db" export --user @global "$T/backup.txt"
cmp -s "$T/backup.txt" "$T/backup.want" || it_fail "a failed export changed the last backup"
ls "$T"/backup.txt.* "$T"/partial.txt.* 2>/dev/null && it_fail "a failed export left its new file"
# Through a symbolic link it is written in place, and emptied on failure.
ln -s partial.txt "$T/link.txt"
expect 3 S --db "$T/damaged.db" export --user @global "$T/link.txt"
[ -L "$T/link.txt" ] && [ ! -s "$T/partial.txt" ] || it_fail "a failed export through a link"
# A good export replaces the file whole, with its mode.
expect 0 S export --user @global "$T/backup.txt"
[ "$(stat -c %a "$T/backup.txt")" = 640 ] && tail -n 1 "$T/backup.txt" | grep -qx end ||
	it_fail "export over a backup: mode $(stat -c %a "$T/backup.txt"), last line $(tail -n 1 "$T/backup.txt")"
# Over a file of another owner it keeps the owner and group (root's export
# of a user's backup took it from them); a file with another name (a hard
# link) is written in place, so both names hold the new export.
if id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null; then
	chown nobody:nogroup "$T/backup.txt"
	expect 0 S export --user @global "$T/backup.txt"
	[ "$(stat -c '%U:%G %a' "$T/backup.txt")" = "nobody:nogroup 640" ] ||
		it_fail "export over nobody's backup: $(stat -c '%U:%G %a' "$T/backup.txt")"
fi
: >"$T/backup.txt"
ln "$T/backup.txt" "$T/hard.txt"
expect 0 S export --user @global "$T/backup.txt"
tail -n 1 "$T/hard.txt" | grep -qx end || it_fail "export over a file with a hard link: the other name kept $(wc -c <"$T/hard.txt") bytes"
rm -f "$T/backup.txt" "$T/backup.want" "$T/link.txt" "$T/partial.txt" "$T/hard.txt"
# A store file its user may not write (root would write it anyway): a write
# exits 3 and says why (the rollback after the failed write emptied the
# message: "spamsift: whitelist: ").
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1; then
	R="$T/ro"
	mkdir -p "$R"
	cp "$CLI_BIN" "$R/spamsift"
	{ cat "$SAMPLE_CONF"; echo "Trust nobody"; } >"$R/spamsift.conf"
	cp "$T/spamsift.db" "$R/store.db"
	chown nobody "$R" "$R/store.db"
	chmod 755 "$R" "$R/spamsift" && chmod 644 "$R/spamsift.conf" && chmod 444 "$R/store.db"
	RO() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$R/spamsift" \
		-c "$R/spamsift.conf" --db "$R/store.db" "$@"; }
	expect 3 RO whitelist add --user bob@example.net ro@example.org
	grep -q 'add list entry: .*readonly' "$T/err" || it_fail "read-only store, whitelist: $(cat "$T/err")"
	expect 3 RO import --user bob@example.net "$T/global.txt"
	grep -q 'import: .*readonly' "$T/err" || it_fail "read-only store, import: $(cat "$T/err")"
fi

# Trust, deployed as README describes: the store and its directory belong
# to a group (here "mail") and are closed to others; the command is setgid to
# that group. An untrusted caller (nobody) may act only as themselves, cannot
# lift the rule with -c/--db/-o, and cannot read the store directly.
# LeakSanitizer cannot run in a setgid process: the sanitizer build skips
# this part (the normal build, which CI also runs, does it).
if ldd "$CLI_BIN" 2>/dev/null | grep -q libasan; then
	it_log "setgid Trust deployment: skipped in the sanitizer build"
elif id nobody >/dev/null 2>&1 && getent group mail >/dev/null && command -v setpriv >/dev/null 2>&1; then
	G="$T/guarded"
	mkdir -p "$G/bin" "$G/store"
	cp "$CLI_BIN" "$G/bin/spamsift"
	chgrp mail "$G/bin/spamsift" && chmod 2755 "$G/bin/spamsift"
	chmod 755 "$G" "$G/bin"
	cp "$SAMPLE_CONF" "$G/spamsift.conf"
	echo "Home $G/store" >>"$G/spamsift.conf"
	chmod 644 "$G/spamsift.conf"
	"$G/bin/spamsift" -c "$G/spamsift.conf" db init >/dev/null || it_fail "guarded db init"
	"$G/bin/spamsift" -c "$G/spamsift.conf" whitelist add --user bob secret-friend@example.com ||
		it_fail "root adds bob's whitelist"
	chgrp -R mail "$G/store" && chmod 2770 "$G/store" && chmod 660 "$G/store"/*
	N() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$G/bin/spamsift" "$@"; }
	# nobody's own data: allowed (through the setgid group).
	expect 0 N -c "$G/spamsift.conf" whitelist add --user nobody friend@example.com
	expect 0 N -c "$G/spamsift.conf" whitelist list --user nobody
	grep -q friend@example.com "$T/out" || it_fail "nobody cannot see their own list"
	# Someone else's: refused, and nothing of bob's leaks.
	expect 1 N -c "$G/spamsift.conf" whitelist list --user bob
	grep -q 'not in Trust' "$T/err" || it_fail "Trust refusal message: $(cat "$T/err")"
	grep -q secret-friend "$T/out" "$T/err" && it_fail "bob's list leaked"
	# With an alias table the refusal names the user the login maps to (it
	# named the login, another user).
	printf 'nobody mailbox-n@example.org\n' >"$G/aliases"
	{ cat "$G/spamsift.conf"; printf 'UserMap alias\nAliasFile %s/aliases\n' "$G"; } >"$G/alias.conf"
	chmod 644 "$G/aliases" "$G/alias.conf"
	expect 1 N -c "$G/alias.conf" whitelist list --user bob@example.org
	grep -q 'nobody may act only as mailbox-n@example.org (not in Trust)' "$T/err" ||
		it_fail "Trust refusal with an alias table: $(cat "$T/err")"
	expect 1 N -c "$G/spamsift.conf" stats --user bob
	expect 1 N -c "$G/spamsift.conf" quarantine list --user bob
	# Deleting a user is the administrator's, even for one's own data.
	expect 1 N -c "$G/spamsift.conf" user delete --user nobody
	grep -q 'user: only users in Trust' "$T/err" || it_fail "untrusted user delete: $(cat "$T/err")"
	expect 0 N -c "$G/spamsift.conf" whitelist list --user nobody
	grep -q friend@example.com "$T/out" || it_fail "a refused user delete deleted"
	# Options that could lift the rule are refused for untrusted callers.
	expect 1 N -c "$G/spamsift.conf" -o Trust=nobody whitelist list --user bob
	expect 1 N --db "$G/store/spamsift.db" whitelist list --user bob
	# -c must name a file only root can have written: /proc/self/comm is
	# root's in a setgid process, and holds the name the command ran as.
	ln -s "$G/bin/spamsift" "$G/bin/Trust nobody"
	expect 1 setpriv --reuid=nobody --regid=nogroup --clear-groups "$G/bin/Trust nobody" \
		-c /proc/self/comm whitelist list --user bob
	grep -q secret-friend "$T/out" "$T/err" && it_fail "-c /proc/self/comm made nobody trusted"
	# Files the caller names are read and written with the caller's rights,
	# not the group's: the store cannot be read as input nor overwritten by
	# an export.
	expect 2 N -c "$G/spamsift.conf" tokens "$G/store/spamsift.db"
	grep -q secret "$T/out" && it_fail "tokens read the store with the group's rights"
	expect 2 N -c "$G/spamsift.conf" export --user nobody "$G/store/spamsift.db"
	# A file the caller may write in a directory they may not add to is
	# written in place (no new file can be made beside it).
	mkdir -p "$G/outdir" && chmod 755 "$G/outdir"
	: >"$G/outdir/mine.txt" && chown nobody "$G/outdir/mine.txt"
	expect 0 N -c "$G/spamsift.conf" export --user nobody "$G/outdir/mine.txt"
	tail -n 1 "$G/outdir/mine.txt" | grep -qx end || it_fail "export in place: $(cat "$T/err")"
	expect 0 "$G/bin/spamsift" -c "$G/spamsift.conf" whitelist list --user bob
	grep -q secret-friend "$T/out" || it_fail "an untrusted export damaged the store"
	# An unreadable file in a Maildir is reported and skipped; the others
	# (in cur/ and in new/) are still learned.
	mkdir -p "$T/md/cur" "$T/md/new"
	ham 1 >"$T/md/cur/1"; ham 2 >"$T/md/cur/2"; ham 3 >"$T/md/cur/3"; ham 4 >"$T/md/new/4"
	chmod 000 "$T/md/cur/2"; chmod 755 "$T/md" "$T/md/cur" "$T/md/new" "$T"
	chmod 644 "$T/md/cur/1" "$T/md/cur/3" "$T/md/new/4"
	expect 2 N -c "$G/spamsift.conf" train --user nobody --ham "$T/md"
	grep -q 'learned 3 messages' "$T/out" || it_fail "unreadable file: $(cat "$T/out" "$T/err")"
	grep -q 'cur/2: Permission denied' "$T/err" || it_fail "unreadable file not named: $(cat "$T/err")"
	# A release through the setgid command: the quarantine lock's file is
	# made next to the store with the group's rights, for the group.
	mkdir "$G/outbox" && chown nobody "$G/outbox"
	printf '#!/bin/sh\ncat >"%s/outbox/msg.$$"\n' "$G" >"$G/bin/sendmail"
	chmod 755 "$G/bin/sendmail"
	echo "SendmailPath $G/bin/sendmail" >>"$G/spamsift.conf"
	qid=$(quar_add nobody "$G/store/spamsift.db")
	expect 0 N -c "$G/spamsift.conf" quarantine release --user nobody "$qid"
	[ "$(stat -c '%a %G' "$G/store/spamsift.db-quarantine.lock")" = "660 mail" ] ||
		it_fail "quarantine lock file: $(ls -l "$G/store")"
	qid=$(quar_add nobody "$G/store/spamsift.db")
	expect 0 "$G/bin/spamsift" -c "$G/spamsift.conf" quarantine release --user nobody "$qid"
	[ "$(find "$G/outbox" -name 'msg.*' | wc -l)" = 2 ] || it_fail "setgid releases: $(ls -l "$G/outbox")"
	# And the store itself is closed to them.
	if setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$G/store/spamsift.db" >/dev/null 2>&1; then
		it_fail "nobody can read the store file directly"
	fi
fi
echo "cli: all subcommands ok"
exit 0
