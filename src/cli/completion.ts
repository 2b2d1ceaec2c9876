/**
 * `hb completion bash|zsh`: a completion script made from the command line's own definition (so it
 * offers exactly the commands and options --help shows), plus group names for standby, takeover and
 * clear, read from the config (`hb completion groups`, which only reads the TOML: no keys, no checks).
 */
import { readFileSync } from "node:fs";
import type { CAC } from "cac";
import { parse } from "smol-toml";

/** Group names of a config, for completion: nothing (never an error) when it cannot be read. */
export function groupNames(file: string): string[] {
  try {
    const raw = parse(readFileSync(file, "utf8")) as { group?: { name?: unknown }[] };
    return (raw.group ?? []).map((g) => g.name).filter((n): n is string => typeof n === "string");
  } catch {
    return [];
  }
}

const words = (list: string[]) => list.join(" ");
/** An option's long form as typed ("--log-level"), from its definition ("-l, --log-level <level>"). */
const long = (o: { rawName: string }) => /--[\w-]+/.exec(o.rawName)?.[0] ?? "";

/** The bash function: commands first, then each command's options; values where there are few. */
export function bashScript(cli: CAC): string {
  const cmds = cli.commands.map((c) => c.name.split(" ")[0]!).filter(Boolean);
  const global = cli.globalCommand.options.map(long);
  const cases = cli.commands
    .filter((c) => c.name && !c.name.startsWith("completion"))
    .map((c) => `    ${c.name.split(" ")[0]}) opts="${words(c.options.map(long))}" ;;`);
  return `# bash completion for hb (hb completion bash > /etc/bash_completion.d/hb)
_hb() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmd="" cfg="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      -c|--config) cfg="\${COMP_WORDS[i+1]}" ;;
      -*) ;;
      *) [ -z "$cmd" ] && [ "\${COMP_WORDS[i-1]}" != -c ] && [ "\${COMP_WORDS[i-1]}" != --config ] && cmd="\${COMP_WORDS[i]}" ;;
    esac
  done
  case "$prev" in
    -c|--config|--out|--prometheus|--socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --log-level) COMPREPLY=($(compgen -W "error warn info debug trace" -- "$cur")); return ;;
  esac
  if [ -z "$cmd" ]; then
    COMPREPLY=($(compgen -W "${words(cmds)} help ${words(global)}" -- "$cur")); return
  fi
  local opts=""
  case "$cmd" in
${cases.join("\n")}
    completion) opts="bash zsh" ;;
  esac
  if [[ "$cur" != -* ]] && [[ "$cmd" = standby || "$cmd" = takeover || "$cmd" = clear ]]; then
    COMPREPLY=($(compgen -W "$(\${COMP_WORDS[0]} completion groups --config "\${cfg:-/etc/hb/ha.toml}" 2>/dev/null) all" -- "$cur")); return
  fi
  COMPREPLY=($(compgen -W "$opts ${words(global)}" -- "$cur"))
}
complete -o default -F _hb hb
`;
}

/** zsh runs the same function through its bash compatibility. */
export const zshScript = (
  cli: CAC,
) => `# zsh completion for hb (hb completion zsh > "\${fpath[1]}/_hb", or eval it in .zshrc)
(( $+functions[compdef] )) || { autoload -U +X compinit && compinit -u; }
autoload -U +X bashcompinit && bashcompinit
${bashScript(cli)}`;
