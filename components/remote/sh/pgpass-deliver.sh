mkdir -p "$dir"
prepare
splice "$work/block"
install_new "$work/new"
claim
printf '%s\n' "pg-dr: $target $state"
