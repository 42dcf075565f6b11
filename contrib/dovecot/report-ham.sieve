# report-ham.sieve -- imapsieve: a message copied or moved out of Junk is
# reported to spamsift as ham, unless it goes to the Trash (deleting spam
# says nothing about it).
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

if environment :is "imap.mailbox" "Trash" {
	stop;
}
if environment :matches "imap.user" "*" {
	set "username" "${1}";
}
pipe :copy "spamsift-learn" ["ham", "${username}"];
