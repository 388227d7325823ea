cat > "$tmp"
install_tmp
@ON_CHANGE@@ALWAYS@echo "pg-dr: $target $state"
