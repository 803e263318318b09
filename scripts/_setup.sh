# Shared set-up for scripts/run and scripts/test: sourced, not run.
# Installs missing system packages (as root or through sudo; otherwise prints
# the exact command), creates .venv and installs the project into it.
# Usage: vg_setup EXTRA_APT_PACKAGES...   then use "$VG_PY" / "$VG_BIN".

VG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VG_VENV="$VG_ROOT/.venv"

vg_say() { printf '%s\n' "$*" >&2; }

vg_find_python() {
    local candidate
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

vg_apt_install() {
    # Install the Debian packages given that are not installed yet.
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local command="apt-get update && apt-get install -y ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then
        vg_say "installing system packages: ${missing[*]}"
        (export DEBIAN_FRONTEND=noninteractive
         apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}") >/dev/null ||
            { vg_say "error: could not install ${missing[*]}; run: $command"; return 1; }
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        vg_say "installing system packages with sudo: ${missing[*]}"
        (sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >/dev/null ||
            { vg_say "error: could not install ${missing[*]}; run: sudo sh -c '$command'"; return 1; }
    else
        vg_say "error: missing system packages: ${missing[*]}"
        vg_say "install them with: sudo sh -c '$command'"
        return 1
    fi
}

vg_setup() {
    local extras="$1"
    shift
    local python
    python="$(vg_find_python)" || {
        vg_say "error: voiceguide needs Python 3.11 or newer; install it with: sudo apt-get install python3"
        return 1
    }
    local apt_packages=(espeak-ng ffmpeg libasound2-dev "$@")
    if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
        apt_packages+=("python3-venv")
    fi
    vg_apt_install "${apt_packages[@]}" || return 1

    if [ ! -x "$VG_VENV/bin/python" ]; then
        vg_say "creating $VG_VENV"
        "$python" -m venv "$VG_VENV" || return 1
    fi
    VG_PY="$VG_VENV/bin/python"
    VG_BIN="$VG_VENV/bin"
    # Reinstall only when the project's dependencies change.
    local stamp="$VG_VENV/.installed-$extras-$(sha256sum "$VG_ROOT/pyproject.toml" | cut -c1-16)"
    if [ ! -e "$stamp" ]; then
        vg_say "installing voiceguide and its Python packages into .venv"
        local spec="$VG_ROOT"
        [ -n "$extras" ] && spec="$VG_ROOT[$extras]"
        "$VG_PY" -m pip install -q --disable-pip-version-check -e "$spec" >&2 || {
            vg_say "error: pip could not install voiceguide; see the messages above"
            return 1
        }
        rm -f "$VG_VENV"/.installed-*
        touch "$stamp"
    fi
    # Byte-compile voiceguide, as pip does for an installed package (an editable
    # install does not): every command then starts without compiling its modules,
    # even where PYTHONDONTWRITEBYTECODE is set (about 30 ms off each start).
    # Only files changed since the last run are compiled again.
    "$VG_PY" -m compileall -q "$VG_ROOT/voiceguide" >/dev/null || true
}
