"""`loraplane completion bash|zsh`: a shell completion script generated from the parser tree (shtab), so it
always knows every command and option; hidden (deprecated) spellings are left out."""

SHELLS = ("bash", "zsh")


def add_parser(subparsers, root) -> None:
    """`root`: the whole `loraplane` parser, whose tree the script completes."""
    p = subparsers.add_parser(
        "completion", help="print a shell completion script (bash, zsh)",
        description='bash: add  eval "$(loraplane completion bash)"  to ~/.bashrc. zsh: loraplane completion zsh '
                    '> "${fpath[1]}/_loraplane", then start a new shell (compinit loads it).')
    p.add_argument("shell", choices=SHELLS, help="the shell the script is for")
    p.set_defaults(handler=lambda args: print_script(root, args.shell))


def script(root, shell: str) -> str:
    import shtab

    return shtab.complete(root, shell=shell)


def print_script(root, shell: str) -> int:
    print(script(root, shell))
    return 0
