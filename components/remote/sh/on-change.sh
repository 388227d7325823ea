if [ "$state" != unchanged ]; then
@HOOK@
fi
