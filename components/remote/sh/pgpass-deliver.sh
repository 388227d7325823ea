mkdir -p "$dir"
prepare
splice "$work/block"
install_new "$work/new"
claim
echo "pg-dr: $target $state"
