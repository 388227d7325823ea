mkdir -p "$dir"
begin
receive
check_received "$work/in" @LENGTH@ @SHA256@
lock
check_target
install_new "$work/in"
claim
@ACTIVATE@printf '%s\n' "pg-dr: $target $state"
