mkdir -p "$dir"
begin
@RECEIVE@
lock
check_target
install_new @RECEIVED@
claim
@ACTIVATE@printf '%s\n' "pg-dr: $target $state"
