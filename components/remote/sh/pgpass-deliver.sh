splice "$tmp.in"
install_tmp
echo "pg-dr: $target $state"
