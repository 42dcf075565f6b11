# report-spam.sieve -- imapsieve: a message copied or moved into Junk, or
# appended there by a client, is reported to spamsift as spam.
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

if environment :matches "imap.user" "*" {
	set "username" "${1}";
}
pipe :copy "spamsift-learn" ["spam", "${username}"];
