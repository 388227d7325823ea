mkdir -p "$dir"
begin
@RECEIVE@
lock
check_target
install_new @RECEIVED@
claim
@ACTIVATE@echo "pg-dr: $target $state"
