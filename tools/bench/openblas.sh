# Sourced by sgemm.sh and train_vs_pytorch.sh (which set $here, the repository root).
# openblas_dir: unpacks Debian's libopenblas0-pthread .deb (from the apt cache, else `apt-get
# download`) under target/openblas once, nothing installed system-wide, and prints the directory
# to put first on LD_LIBRARY_PATH.
openblas_dir() {
  local dir="$here/target/openblas"
  if [ ! -e "$dir/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3" ]; then
    local deb
    deb="$(ls /var/cache/apt/archives/libopenblas0-pthread_*.deb 2>/dev/null | head -1 || true)"
    if [ -z "$deb" ]; then (mkdir -p "$dir" && cd "$dir" && apt-get download libopenblas0-pthread >/dev/null) && deb="$(ls "$dir"/libopenblas0-pthread_*.deb | head -1)"; fi
    mkdir -p "$dir" && dpkg-deb -x "$deb" "$dir"
  fi
  echo "$dir/usr/lib/x86_64-linux-gnu/openblas-pthread"
}
