use super::*;

/// `(depth, normalized)` of every command.
fn cmds(src: &str) -> Vec<(u32, String)> {
    parse(src)
        .unwrap_or_else(|e| panic!("{src:?}: {e}"))
        .commands()
        .map(|c| (c.depth, c.normalized()))
        .collect()
}

fn c(depth: u32, text: &str) -> (u32, String) {
    (depth, text.to_string())
}

/// The normalized commands of every pipeline, `|`-joined, with depths.
fn pipes(src: &str) -> Vec<(u32, String)> {
    parse(src)
        .unwrap_or_else(|e| panic!("{src:?}: {e}"))
        .pipelines
        .iter()
        .map(|p| {
            (
                p.depth,
                p.commands
                    .iter()
                    .map(Command::normalized)
                    .collect::<Vec<_>>()
                    .join(" | "),
            )
        })
        .collect()
}

fn one(src: &str) -> Command {
    let script = parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    let all: Vec<&Command> = script.commands().collect();
    assert_eq!(all.len(), 1, "{src:?}: {all:?}");
    all[0].clone()
}

fn err(src: &str) -> ParseError {
    match parse(src) {
        Ok(s) => panic!("{src:?} parsed: {s:?}"),
        Err(e) => e,
    }
}

fn words(src: &str) -> Vec<String> {
    one(src).words
}

// -- words and quoting ---------------------------------------------------------

#[test]
fn plain_words_and_spaces() {
    assert_eq!(words("ls   -la\t src"), ["ls", "-la", "src"]);
    assert_eq!(cmds("  ls  "), [c(0, "ls")]);
    assert_eq!(one("  ls   -la  ").text, "ls   -la");
}

#[test]
fn quote_removal() {
    assert_eq!(words(r#"'rm' -rf "/""#), ["rm", "-rf", "/"]);
    assert_eq!(words(r"\rm -rf /"), ["rm", "-rf", "/"]);
    assert_eq!(
        words(r#"echo "a b" 'c d' e\ f"#),
        ["echo", "a b", "c d", "e f"]
    );
    assert_eq!(
        words(r#"echo "it's" 'say "hi"'"#),
        ["echo", "it's", "say \"hi\""]
    );
    assert_eq!(
        words(r#"echo "a\"b" "c\\d" "e\f" "\$x""#),
        ["echo", "a\"b", "c\\d", "e\\f", "$x"]
    );
    assert_eq!(words(r#"r"m" -r''f /"#), ["rm", "-rf", "/"]);
    assert_eq!(words(r#"echo """#), ["echo", ""]);
}

#[test]
fn ansi_c_quoting() {
    assert_eq!(words(r"$'\x72\x6d' -rf /"), ["rm", "-rf", "/"]);
    assert_eq!(
        words(r"echo $'a\nb' $'\t' $'\'' $'\101\u00e9'"),
        ["echo", "a\nb", "\t", "'", "Aé"]
    );
    assert_eq!(words(r#"echo $"hello""#), ["echo", "hello"]);
    assert_eq!(words(r"echo $'\cA'"), ["echo", "\u{1}"]);
}

#[test]
fn expansions_are_kept_as_written() {
    assert_eq!(
        words(r#"echo $HOME ${HOME} "$USER" ~ *.txt {a,b} $1 $# $?"#),
        [
            "echo", "$HOME", "${HOME}", "$USER", "~", "*.txt", "{a,b}", "$1", "$#", "$?"
        ]
    );
    assert_eq!(words("echo ${x:-'a b'}"), ["echo", "${x:-'a b'}"]);
    assert_eq!(words("echo $((1 + (2 * 3)))"), ["echo", "$((1 + (2 * 3)))"]);
}

#[test]
fn line_continuations() {
    assert_eq!(words("rm \\\n -rf \\\n /"), ["rm", "-rf", "/"]);
    assert_eq!(words("rm -r\\\nf /"), ["rm", "-rf", "/"]);
    assert_eq!(words("echo \"a\\\nb\""), ["echo", "ab"]);
}

#[test]
fn carriage_returns_are_blanks() {
    assert_eq!(cmds("rm -rf /\r\nls\r\n"), [c(0, "rm -rf /"), c(0, "ls")]);
}

#[test]
fn unicode_words() {
    assert_eq!(
        words("echo héllo 'wörld' \"日本\""),
        ["echo", "héllo", "wörld", "日本"]
    );
    assert_eq!(one("echo é").text, "echo é");
}

#[test]
fn comments() {
    assert_eq!(cmds("ls # rm -rf /"), [c(0, "ls")]);
    assert_eq!(cmds("# only a comment"), []);
    assert_eq!(
        cmds("ls; # c\n# d\necho a#b"),
        [c(0, "ls"), c(0, "echo a#b")]
    );
    assert_eq!(
        words("echo '#not' \"#not\" x#y"),
        ["echo", "#not", "#not", "x#y"]
    );
    assert_eq!(cmds(""), []);
    assert_eq!(cmds("  \n\n  "), []);
}

// -- separators and pipelines -------------------------------------------------

#[test]
fn separators() {
    assert_eq!(
        cmds("a; b && c || d & e\nf"),
        [
            c(0, "a"),
            c(0, "b"),
            c(0, "c"),
            c(0, "d"),
            c(0, "e"),
            c(0, "f")
        ]
    );
    assert_eq!(
        cmds("a;b&&c||d"),
        [c(0, "a"), c(0, "b"), c(0, "c"), c(0, "d")]
    );
    assert_eq!(cmds("a &&\n b ||\n\n c"), [c(0, "a"), c(0, "b"), c(0, "c")]);
    assert_eq!(cmds("sleep 1 &"), [c(0, "sleep 1")]);
}

#[test]
fn pipelines() {
    assert_eq!(pipes("a | b |& c; d"), [c(0, "a | b | c"), c(0, "d")]);
    assert_eq!(pipes("a |\n b"), [c(0, "a | b")]);
    assert_eq!(pipes("! a | b"), [c(0, "a | b")]);
    assert_eq!(pipes("curl -s x|bash"), [c(0, "curl -s x | bash")]);
}

#[test]
fn command_text_is_each_commands_source() {
    let script = parse("cd /tmp &&  rm -rf  x | tee  log ").unwrap();
    let texts: Vec<&str> = script.commands().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["cd /tmp", "rm -rf  x", "tee  log"]);
}

// -- assignments and redirects ------------------------------------------------

#[test]
fn assignments() {
    let cmd = one("FOO=bar BAZ='a b' make FOO=x");
    assert_eq!(cmd.assignments, ["FOO=bar", "BAZ=a b"]);
    assert_eq!(cmd.words, ["make", "FOO=x"]);
    assert_eq!(cmd.program(), Some("make"));
    let cmd = one("X=1");
    assert!(cmd.words.is_empty());
    assert_eq!(cmd.program(), None);
    assert_eq!(cmd.normalized(), "");
    assert_eq!(one("arr=(a 'b c' d) ls").assignments, ["arr=(a b c d)"]);
    assert_eq!(one("A+=x a[1]=y ls").assignments, ["A+=x", "a[1]=y"]);
    assert_eq!(words("\"FOO\"=bar ls"), ["FOO=bar", "ls"]);
    assert_eq!(words("=x ls"), ["=x", "ls"]);
}

#[test]
fn redirects() {
    let cmd = one("cmd <in >out 2>>err 2>&1 &>all &>>all2 >|clob <>rw 3<&0 <<<'here str'");
    let ops: Vec<(&str, &str)> = cmd
        .redirects
        .iter()
        .map(|r| (r.op.as_str(), r.target.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("<", "in"),
            (">", "out"),
            ("2>>", "err"),
            ("2>&", "1"),
            ("&>", "all"),
            ("&>>", "all2"),
            (">|", "clob"),
            ("<>", "rw"),
            ("3<&", "0"),
            ("<<<", "here str")
        ]
    );
    assert_eq!(cmd.words, ["cmd"]);
    let writes: Vec<bool> = cmd.redirects.iter().map(Redirect::writes).collect();
    assert_eq!(
        writes,
        [
            false, true, true, false, true, true, true, true, false, false
        ]
    );
    assert!(cmd.redirects[9].is_here());
}

#[test]
fn redirect_spacing_and_placement() {
    let cmd = one("> /etc/passwd echo  x");
    assert_eq!(cmd.words, ["echo", "x"]);
    assert_eq!(cmd.redirects[0].target, "/etc/passwd");
    let cmd = one("echo x 2 > '/etc/a b'");
    assert_eq!(cmd.words, ["echo", "x", "2"]);
    assert_eq!(cmd.redirects[0].op, ">");
    assert_eq!(cmd.redirects[0].target, "/etc/a b");
    let cmd = one(">/tmp/x");
    assert!(cmd.words.is_empty());
    assert_eq!(cmd.redirects.len(), 1);
    assert!(
        Redirect {
            op: ">&".into(),
            target: "file".into()
        }
        .writes()
    );
}

#[test]
fn here_documents_are_data() {
    let src = "cat > /etc/x <<EOF\nrm -rf /\n$(echo no) `x\n'unbalanced \"\nEOF\nls";
    // The body of an unquoted here-document is data, but its command
    // substitutions run.
    assert_eq!(
        pipes("cat <<'EOF'\nrm -rf /\n(unbalanced\nEOF\nls"),
        [c(0, "cat"), c(0, "ls")]
    );
    assert_eq!(cmds(src), [c(0, "cat"), c(0, "ls")]);
    assert_eq!(
        cmds("cat <<EOF\nhello $(whoami) `id`\nEOF\necho done"),
        [c(0, "cat"), c(1, "whoami"), c(1, "id"), c(0, "echo done")]
    );
    assert_eq!(
        cmds("cat <<-\tEOF\n\tbody\n\tEOF\nls"),
        [c(0, "cat"), c(0, "ls")]
    );
    assert_eq!(
        cmds("cat <<A; cat <<B\na\nA\nb\nB\nls"),
        [c(0, "cat"), c(0, "cat"), c(0, "ls")]
    );
    assert_eq!(
        cmds("cat <<EOF | grep x\nbody\nEOF"),
        [c(0, "cat"), c(0, "grep x")]
    );
    assert_eq!(cmds("cat <<EOF\nno end"), [c(0, "cat")]);
    assert_eq!(one("cat <<\"END\"\nx\nEND").redirects[0].target, "END");
    assert_eq!(
        cmds("python3 - <<'PY'\nprint('(')\nPY\nls"),
        [c(0, "python3 -"), c(0, "ls")]
    );
}

#[test]
fn here_documents_fed_to_a_shell_are_parsed() {
    assert_eq!(
        cmds("bash <<EOF\nrm -rf /\nEOF"),
        [c(0, "bash"), c(1, "rm -rf /")]
    );
    assert_eq!(
        cmds("sudo sh -s <<'X'\necho hi\nX"),
        [c(0, "sudo sh -s"), c(1, "sh -s"), c(2, "echo hi")]
    );
    assert_eq!(
        cmds("bash <<< 'rm -rf ~'"),
        [c(0, "bash"), c(1, "rm -rf ~")]
    );
    assert_eq!(
        cmds("cat <<'EOF' | sudo bash\nrm -rf /\nEOF"),
        [
            c(0, "cat"),
            c(0, "sudo bash"),
            c(1, "bash"),
            c(2, "rm -rf /")
        ]
    );
    assert_eq!(
        cmds("cat <<EOF | tee log | sh -s\nid\nEOF"),
        [c(0, "cat"), c(0, "tee log"), c(0, "sh -s"), c(1, "id")]
    );
    // `cat FILE` does not pass the here-document on.
    assert_eq!(
        cmds("cat x <<EOF | sh\nid\nEOF"),
        [c(0, "cat x"), c(0, "sh")]
    );
    assert_eq!(
        cmds("grep a <<EOF | sh\nid\nEOF"),
        [c(0, "grep a"), c(0, "sh")]
    );
    // A script file argument: the here-document is its stdin, not code.
    assert_eq!(cmds("bash run.sh <<EOF\nrm x\nEOF"), [c(0, "bash run.sh")]);
}

// -- compound commands ----------------------------------------------------------

#[test]
fn subshells_and_groups() {
    assert_eq!(
        pipes("(a; b) && { c; d; }"),
        [c(0, "a"), c(0, "b"), c(0, "c"), c(0, "d")]
    );
    assert_eq!(pipes("(a; b) | c"), [c(0, "a | b | c")]);
    assert_eq!(pipes("x | { a | b; }"), [c(0, "x | a | b")]);
    assert_eq!(pipes("((a) )"), [c(0, "a")]);
    assert_eq!(pipes("((a) ; (b))"), [c(0, "a"), c(0, "b")]);
    assert_eq!(pipes("( (a) )"), [c(0, "a")]);
    assert_eq!(pipes("{ (echo a) }"), [c(0, "echo a")]);
    assert_eq!(
        cmds("(cd /tmp && rm -rf x)"),
        [c(0, "cd /tmp"), c(0, "rm -rf x")]
    );
}

#[test]
fn compound_redirects_reach_their_commands() {
    let script = parse("{ echo a; echo b; } > /etc/x").unwrap();
    for cmd in script.commands() {
        assert_eq!(cmd.redirects.len(), 1, "{cmd:?}");
        assert_eq!(cmd.redirects[0].target, "/etc/x");
    }
    let script = parse("while read l; do echo $l; done < in.txt").unwrap();
    assert_eq!(script.commands().count(), 2);
    assert!(script.commands().all(|c| c.redirects[0].target == "in.txt"));
}

#[test]
fn if_while_for_case() {
    assert_eq!(
        cmds("if test -f x; then rm x; elif true; then :; else echo no; fi"),
        [
            c(0, "test -f x"),
            c(0, "rm x"),
            c(0, "true"),
            c(0, ":"),
            c(0, "echo no")
        ]
    );
    assert_eq!(
        cmds("while true; do sleep 1; done; until false\ndo x\ndone"),
        [c(0, "true"), c(0, "sleep 1"), c(0, "false"), c(0, "x")]
    );
    assert_eq!(
        cmds("for f in *.txt $(ls); do rm \"$f\"; done"),
        [c(1, "ls"), c(0, "rm $f")]
    );
    assert_eq!(cmds("for f; do echo $f; done"), [c(0, "echo $f")]);
    assert_eq!(cmds("for f\ndo\necho $f\ndone"), [c(0, "echo $f")]);
    assert_eq!(
        cmds("for ((i=0; i<3; i++)); do echo $i; done"),
        [c(0, "echo $i")]
    );
    assert_eq!(cmds("select x in a b; do break; done"), [c(0, "break")]);
    assert_eq!(
        cmds("case $x in a|b) echo ab;; (c) rm -rf /;& *) ;; esac"),
        [c(0, "echo ab"), c(0, "rm -rf /")]
    );
    assert_eq!(
        cmds("case \"$1\" in\n  start)\n    run\n    ;;\n  *)\n    usage\nesac"),
        [c(0, "run"), c(0, "usage")]
    );
    assert_eq!(
        cmds("x=$(case a in a) echo in;; esac)"),
        [c(0, ""), c(1, "echo in")]
    );
    assert_eq!(
        cmds("if true; then if false; then a; fi; fi"),
        [c(0, "true"), c(0, "false"), c(0, "a")]
    );
}

#[test]
fn keywords_only_count_at_command_position() {
    assert_eq!(
        cmds("echo if then fi done }"),
        [c(0, "echo if then fi done }")]
    );
    assert_eq!(cmds("echo {a,b} {"), [c(0, "echo {a,b} {")]);
}

#[test]
fn conditionals_and_arithmetic() {
    assert_eq!(
        cmds("[[ -f x && $a < $b ]] && rm x"),
        [c(0, "[[ -f x && $a < $b ]]"), c(0, "rm x")]
    );
    assert_eq!(
        cmds("[[ $x =~ ^(a|b)$ ]]"),
        [c(0, "[[ $x =~ ^ ( a | b ) $ ]]")]
    );
    assert_eq!(
        cmds("[ -f x ] && echo y"),
        [c(0, "[ -f x ]"), c(0, "echo y")]
    );
    assert_eq!(cmds("(( i++ )) && echo $i"), [c(0, "echo $i")]);
    assert_eq!(cmds("(( x = $(date +%s) ))"), [c(1, "date +%s")]);
    assert_eq!(
        cmds("echo $(( $(id -u) + 1 ))"),
        [c(0, "echo $(( $(id -u) + 1 ))"), c(1, "id -u")]
    );
    // `$((` that is really a command substitution of a subshell.
    assert_eq!(
        cmds("echo $((ls); pwd)"),
        [c(0, "echo $((ls); pwd)"), c(1, "ls"), c(1, "pwd")]
    );
}

#[test]
fn functions() {
    assert_eq!(cmds("f() { rm -rf /; }; f"), [c(0, "rm -rf /"), c(0, "f")]);
    assert_eq!(cmds("function g { echo hi; }"), [c(0, "echo hi")]);
    assert_eq!(cmds("function g() ( echo hi )"), [c(0, "echo hi")]);
    assert_eq!(pipes(":(){ :|:& };:"), [c(0, ": | :"), c(0, ":")]);
    assert_eq!(
        pipes("bomb() { bomb | bomb & }; bomb"),
        [c(0, "bomb | bomb"), c(0, "bomb")]
    );
}

#[test]
fn time_and_negation() {
    assert_eq!(cmds("time { sleep 1; }"), [c(0, "sleep 1")]);
    assert_eq!(cmds("time -p ( ls )"), [c(0, "ls")]);
    assert_eq!(
        cmds("time rm -rf x"),
        [c(0, "time rm -rf x"), c(1, "rm -rf x")]
    );
    assert_eq!(cmds("! grep -q x f"), [c(0, "grep -q x f")]);
}

// -- substitutions ------------------------------------------------------------------

#[test]
fn command_substitutions_are_nested() {
    assert_eq!(
        cmds("echo $(rm -rf /)"),
        [c(0, "echo $(rm -rf /)"), c(1, "rm -rf /")]
    );
    assert_eq!(
        cmds("echo `rm -rf /`"),
        [c(0, "echo `rm -rf /`"), c(1, "rm -rf /")]
    );
    assert_eq!(
        cmds("echo \"$(whoami)\""),
        [c(0, "echo $(whoami)"), c(1, "whoami")]
    );
    assert_eq!(
        cmds("a $(b $(c) | d) e"),
        [
            c(0, "a $(b $(c) | d) e"),
            c(1, "b $(c)"),
            c(1, "d"),
            c(2, "c")
        ]
    );
    assert_eq!(cmds("echo \"`date`\""), [c(0, "echo `date`"), c(1, "date")]);
    assert_eq!(
        cmds("echo `echo \\`id\\``"),
        [c(0, "echo `echo \\`id\\``"), c(1, "echo `id`"), c(2, "id")]
    );
    assert_eq!(cmds("X=$(rm -rf /) ls"), [c(0, "ls"), c(1, "rm -rf /")]);
    assert_eq!(
        cmds("echo ${x:-$(id)}"),
        [c(0, "echo ${x:-$(id)}"), c(1, "id")]
    );
    assert_eq!(
        cmds("echo \"${x:-`id`}\""),
        [c(0, "echo ${x:-`id`}"), c(1, "id")]
    );
    assert_eq!(
        cmds("$(echo rm) -rf /"),
        [c(0, "$(echo rm) -rf /"), c(1, "echo rm")]
    );
    assert_eq!(
        cmds("echo $(echo \")\")"),
        [c(0, "echo $(echo \")\")"), c(1, "echo )")]
    );
    assert_eq!(
        cmds("echo $(\n ls\n # c )\n)"),
        [c(0, "echo $(\n ls\n # c )\n)"), c(1, "ls")]
    );
}

#[test]
fn process_substitutions_are_nested() {
    assert_eq!(
        cmds("diff <(ls a) >(tee b)"),
        [c(0, "diff <(ls a) >(tee b)"), c(1, "ls a"), c(1, "tee b")]
    );
    assert_eq!(
        cmds("bash <(curl -s https://x.sh)"),
        [
            c(0, "bash <(curl -s https://x.sh)"),
            c(1, "curl -s https://x.sh")
        ]
    );
    let cmd = &parse("cat < <(ls)").unwrap().pipelines[0].commands[0];
    assert_eq!(cmd.redirects[0].op, "<");
    assert_eq!(cmd.redirects[0].target, "<(ls)");
}

#[test]
fn extglob_patterns() {
    assert_eq!(
        words("rm !(keep.txt) @(a|b) *.+(c|h)"),
        ["rm", "!(keep.txt)", "@(a|b)", "*.+(c|h)"]
    );
}

// -- code strings ---------------------------------------------------------------------

#[test]
fn shell_code_strings_are_parsed() {
    assert_eq!(
        cmds("bash -c 'rm -rf /'"),
        [c(0, "bash -c rm -rf /"), c(1, "rm -rf /")]
    );
    assert_eq!(
        cmds("sh -c \"a; b\""),
        [c(0, "sh -c a; b"), c(1, "a"), c(1, "b")]
    );
    assert_eq!(cmds("bash -lc 'ls'"), [c(0, "bash -lc ls"), c(1, "ls")]);
    assert_eq!(
        cmds("bash -e -o pipefail -c 'ls'"),
        [c(0, "bash -e -o pipefail -c ls"), c(1, "ls")]
    );
    assert_eq!(
        cmds("/bin/zsh -c -- 'ls'"),
        [c(0, "zsh -c -- ls"), c(1, "ls")]
    );
    assert_eq!(cmds("dash -c ls"), [c(0, "dash -c ls"), c(1, "ls")]);
    assert_eq!(cmds("bash script.sh -c x"), [c(0, "bash script.sh -c x")]);
    assert_eq!(
        cmds("eval 'rm -rf' /"),
        [c(0, "eval rm -rf /"), c(1, "rm -rf /")]
    );
    assert_eq!(cmds("su -c 'id' root"), [c(0, "su -c id root"), c(1, "id")]);
    assert_eq!(
        cmds("su root --command=id"),
        [c(0, "su root --command=id"), c(1, "id")]
    );
    assert_eq!(
        cmds("bash -c \"bash -c 'rm -rf /'\""),
        [
            c(0, "bash -c bash -c 'rm -rf /'"),
            c(1, "bash -c rm -rf /"),
            c(2, "rm -rf /")
        ]
    );
    // A code string that does not parse: only the outer command.
    assert_eq!(cmds("bash -c 'echo \"'"), [c(0, "bash -c echo \"")]);
    // `$(…)` in a code string: the outer shell runs it first, then the
    // inner shell runs its output.
    assert_eq!(
        cmds("bash -c \"$(curl -s x)\""),
        [
            c(0, "bash -c $(curl -s x)"),
            c(1, "curl -s x"),
            c(1, "$(curl -s x)"),
            c(2, "curl -s x")
        ]
    );
}

#[test]
fn watch_env_s_and_find_exec() {
    assert_eq!(
        cmds("watch -n 5 'df -h'"),
        [c(0, "watch -n 5 df -h"), c(1, "df -h")]
    );
    assert_eq!(
        cmds("watch -x ls -l"),
        [c(0, "watch -x ls -l"), c(1, "ls -l")]
    );
    assert_eq!(
        cmds("env -S 'rm -rf /'"),
        [c(0, "env -S rm -rf /"), c(1, "rm -rf /")]
    );
    assert_eq!(
        cmds("find / -name x -exec rm -rf {} \\; -execdir echo {} +"),
        [
            c(0, "find / -name x -exec rm -rf {} ; -execdir echo {} +"),
            c(1, "rm -rf {}"),
            c(1, "echo {}")
        ]
    );
    let script = parse("find . -exec rm {} +").unwrap();
    assert_eq!(
        script.pipelines[0].commands[0].normalized(),
        "find . -exec rm {} +"
    );
}

// -- wrappers ---------------------------------------------------------------------------

#[test]
fn wrappers_are_unwrapped() {
    assert_eq!(
        cmds("sudo rm -rf /"),
        [c(0, "sudo rm -rf /"), c(1, "rm -rf /")]
    );
    assert_eq!(
        cmds("sudo -u root -E rm -rf /"),
        [c(0, "sudo -u root -E rm -rf /"), c(1, "rm -rf /")]
    );
    assert_eq!(cmds("sudo -- ls"), [c(0, "sudo -- ls"), c(1, "ls")]);
    assert_eq!(cmds("sudo -i"), [c(0, "sudo -i")]);
    assert_eq!(cmds("doas -u x ls"), [c(0, "doas -u x ls"), c(1, "ls")]);
    assert_eq!(
        cmds("env -i A=1 B=2 rm x"),
        [c(0, "env -i A=1 B=2 rm x"), c(1, "rm x")]
    );
    let script = parse("env A=1 rm x").unwrap();
    assert_eq!(script.pipelines[1].commands[0].assignments, ["A=1"]);
    assert_eq!(cmds("env"), [c(0, "env")]);
    assert_eq!(cmds("nice -n 10 ls"), [c(0, "nice -n 10 ls"), c(1, "ls")]);
    assert_eq!(cmds("nice -10 ls"), [c(0, "nice -10 ls"), c(1, "ls")]);
    assert_eq!(cmds("nohup ls &"), [c(0, "nohup ls"), c(1, "ls")]);
    assert_eq!(cmds("timeout 10 ls"), [c(0, "timeout 10 ls"), c(1, "ls")]);
    assert_eq!(
        cmds("timeout -s KILL -k 5 10s ls"),
        [c(0, "timeout -s KILL -k 5 10s ls"), c(1, "ls")]
    );
    assert_eq!(
        cmds("timeout --signal=KILL 10 ls"),
        [c(0, "timeout --signal=KILL 10 ls"), c(1, "ls")]
    );
    assert_eq!(
        cmds("find . | xargs -0 -n 1 rm -rf"),
        [c(0, "find ."), c(0, "xargs -0 -n 1 rm -rf"), c(1, "rm -rf")]
    );
    assert_eq!(
        cmds("xargs -I{} rm {}"),
        [c(0, "xargs -I{} rm {}"), c(1, "rm {}")]
    );
    assert_eq!(cmds("command rm x"), [c(0, "command rm x"), c(1, "rm x")]);
    assert_eq!(cmds("command -v sudo"), [c(0, "command -v sudo")]);
    assert_eq!(
        cmds("exec -a name ls"),
        [c(0, "exec -a name ls"), c(1, "ls")]
    );
    assert_eq!(cmds("exec > log"), [c(0, "exec")]);
    assert_eq!(cmds("stdbuf -o L ls"), [c(0, "stdbuf -o L ls"), c(1, "ls")]);
    assert_eq!(cmds("ionice -c 3 ls"), [c(0, "ionice -c 3 ls"), c(1, "ls")]);
    assert_eq!(cmds("setsid ls"), [c(0, "setsid ls"), c(1, "ls")]);
    assert_eq!(cmds("chroot /mnt ls"), [c(0, "chroot /mnt ls"), c(1, "ls")]);
    assert_eq!(
        cmds("busybox rm -rf /"),
        [c(0, "busybox rm -rf /"), c(1, "rm -rf /")]
    );
    assert_eq!(
        cmds("/usr/bin/time -f %e ls"),
        [c(0, "time -f %e ls"), c(1, "ls")]
    );
}

#[test]
fn wrappers_nest_and_keep_text_and_redirects() {
    let script = parse("sudo env X=1 nice bash -c 'rm -rf /' > log").unwrap();
    let found: Vec<(u32, String)> = script
        .commands()
        .map(|c| (c.depth, c.normalized()))
        .collect();
    assert_eq!(
        found,
        [
            c(0, "sudo env X=1 nice bash -c rm -rf /"),
            c(1, "env X=1 nice bash -c rm -rf /"),
            c(2, "nice bash -c rm -rf /"),
            c(3, "bash -c rm -rf /"),
            c(4, "rm -rf /"),
        ]
    );
    let wrapped = &script.pipelines[1].commands[0];
    assert_eq!(wrapped.text, "env X=1 nice bash -c 'rm -rf /' > log");
    assert_eq!(wrapped.redirects[0].target, "log");
    let nice = &script.pipelines[2].commands[0];
    assert_eq!(nice.assignments, ["X=1"]);
}

#[test]
fn wrapped_and_unwrapped_methods() {
    let cmd = one("echo");
    assert!(cmd.wrapped().is_none());
    assert_eq!(cmd.unwrapped(), cmd);
    let script = parse("sudo -u x nice -n 5 rm -rf 'a b'").unwrap();
    let top = &script.pipelines[0].commands[0];
    let inner = top.wrapped().unwrap();
    assert_eq!(inner.normalized(), "nice -n 5 rm -rf a b");
    assert_eq!(inner.depth, 1);
    let innermost = top.unwrapped();
    assert_eq!(innermost.words, ["rm", "-rf", "a b"]);
    assert_eq!(innermost.text, "rm -rf 'a b'");
    assert_eq!(innermost.depth, 2);
}

// -- program and normalized -------------------------------------------------------------

#[test]
fn program_and_normalized() {
    let cmd = one(r#""/bin/rm"  -rf   '/'"#);
    assert_eq!(cmd.program(), Some("rm"));
    assert_eq!(cmd.normalized(), "rm -rf /");
    assert_eq!(cmd.args(), ["-rf", "/"]);
    assert_eq!(one("./script.sh").program(), Some("script.sh"));
    assert_eq!(one("/").program(), Some("/"));
    assert_eq!(one("dir/").program(), Some("dir"));
    assert_eq!(one("\"\" x").program(), Some(""));
}

#[test]
fn quote_helper() {
    assert_eq!(quote("abc"), "abc");
    assert_eq!(quote("/a/b.txt"), "/a/b.txt");
    assert_eq!(quote("a b"), "'a b'");
    assert_eq!(quote("it's"), r"'it'\''s'");
    assert_eq!(quote(""), "''");
    assert!(is_shell("bash") && !is_shell("python"));
}

// -- errors ---------------------------------------------------------------------------------

#[test]
fn unbalanced_input_is_an_error() {
    for bad in [
        "echo 'abc",
        "echo \"abc",
        "echo $(ls",
        "echo `ls",
        "(ls",
        "ls)",
        "{ ls; ",
        "if true; then ls",
        "while true; do ls",
        "for x in a; do ls",
        "case x in a) ls;;",
        "echo ${x",
        "echo $'abc",
        "echo <(ls",
        "[[ -f x",
        "ls |",
        "ls &&",
        "|| ls",
        "; ls",
        "ls ;; ls",
        "fi",
        "done",
        "}",
        "echo (x)",
        "ls > ",
        "f() g() { :; }",
        "bash -c 'ok' $(",
    ] {
        let e = err(bad);
        assert!(!e.message.is_empty(), "{bad:?}");
        assert!(e.offset <= bad.len(), "{bad:?}: {e:?}");
    }
}

#[test]
fn error_messages_name_the_problem() {
    let e = err("echo 'abc");
    assert_eq!(e.message(), "unterminated single quote");
    assert_eq!(e.offset(), 5);
    assert_eq!(e.to_string(), "unterminated single quote (at byte 5)");
    assert!(err("echo \"a").message.contains("double quote"));
    assert!(err("(ls").message.contains("missing `)`"));
    assert!(
        err("ls )").message.contains("unexpected `)`"),
        "{}",
        err("ls )")
    );
    assert!(err("if x; then y").message.contains("`if` without `fi`"));
    assert!(err("ls &&").message.contains("after `&&`"));
    let boxed: Box<dyn std::error::Error> = Box::new(err("'"));
    assert!(boxed.to_string().contains("single quote"));
}

// -- limits ---------------------------------------------------------------------------------------

#[test]
fn depth_is_bounded() {
    let mut src = "ls".to_string();
    for _ in 0..MAX_DEPTH {
        src = format!("echo $({src})");
    }
    let script = parse(&src).unwrap();
    assert_eq!(
        script.pipelines.iter().map(|p| p.depth).max(),
        Some(MAX_DEPTH)
    );
    let deeper = format!("echo $({src})");
    assert!(err(&deeper).message.contains("nest too deeply"));

    let sudos = "sudo ".repeat(MAX_DEPTH as usize) + "ls";
    assert_eq!(
        parse(&sudos).unwrap().pipelines.len(),
        MAX_DEPTH as usize + 1
    );
    let too_many = "sudo ".repeat(MAX_DEPTH as usize + 1) + "ls";
    assert!(err(&too_many).message.contains("nest too deeply"));

    let evals = "eval ".repeat(MAX_DEPTH as usize + 1) + "ls";
    assert!(err(&evals).message.contains("nest too deeply"));
    let mut code = "ls".to_string();
    for _ in 0..6 {
        code = format!("bash -c {}", quote(&code));
    }
    assert_eq!(parse(&code).unwrap().pipelines.len(), 7);
}

#[test]
fn syntactic_nesting_is_bounded() {
    for open in ["(", "{ ", "$(", "${x:-", "$(( ", "if true; then "] {
        let src = open.repeat(10_000);
        let e = err(&src);
        assert!(!e.message.is_empty(), "{open}");
    }
    let src = "( ".repeat(40) + "ls" + &" )".repeat(40);
    assert_eq!(cmds(&src), [c(0, "ls")]);
    // `((…))` is arithmetic, whatever its depth.
    let src = "(".repeat(40) + "ls" + &")".repeat(40);
    assert_eq!(cmds(&src), []);
    let src = "( ".repeat(100) + "ls" + &" )".repeat(100);
    assert!(err(&src).message.contains("nests too deeply"));
    // Backquotes nested through escapes.
    let mut src = "ls".to_string();
    for _ in 0..12 {
        src = format!("echo `{}`", src.replace('\\', "\\\\").replace('`', "\\`"));
    }
    assert!(parse(&src).is_ok() || !err(&src).message.is_empty());
}

#[test]
fn size_and_count_are_bounded() {
    let big = "a".repeat(MAX_INPUT_BYTES + 1);
    assert!(err(&big).message.contains("too long"));
    let many = "a;".repeat(MAX_COMMANDS + 1);
    assert!(err(&many).message.contains("too many commands"));
    let fine = "a;".repeat(1000);
    assert_eq!(parse(&fine).unwrap().pipelines.len(), 1000);
}

#[test]
fn large_inputs_parse_quickly() {
    let started = std::time::Instant::now();
    let body = "line with 'quotes' and \"more\" $(not run) text\n".repeat(20_000);
    let src = format!("cat > notes.txt <<'EOF'\n{body}EOF\nls");
    assert_eq!(cmds(&src), [c(0, "cat"), c(0, "ls")]);
    let words = "'a b' \"c\" d\\ e ".repeat(50_000);
    assert_eq!(parse(&format!("echo {words}")).unwrap().pipelines.len(), 1);
    let nested = "$(( $(( ".repeat(10) + "x";
    let _ = parse(&nested);
    let nested = "$(( ".repeat(40) + "1" + &" ))".repeat(40);
    let _ = parse(&nested);
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

#[test]
fn never_panics_on_odd_input() {
    let samples = [
        "\\",
        "$",
        "$(",
        "`",
        "'",
        "\"",
        "${",
        "$((",
        "((",
        "))",
        "<",
        ">",
        "&",
        "|",
        ";",
        "<<",
        "<<EOF",
        "2>",
        "&>",
        "[[",
        "]]",
        "{",
        "}",
        "!",
        "(",
        ")",
        "#",
        "\n",
        "$'",
        "$'\\x",
        "$'\\u",
        "$'\\c",
        "a=(",
        "f()",
        "function",
        "case",
        "for",
        "for ((",
        "if",
        "time",
        "time -p",
        "echo $((1+2)",
        "cat <<",
        "x |& y",
        "@(",
        "!(x",
        "\u{0}",
        "é$'\\xff'",
    ];
    for s in samples {
        let _ = parse(s);
        for t in samples {
            let _ = parse(&format!("{s}{t}"));
            let _ = parse(&format!("{s} {t}"));
            let _ = parse(&format!("echo {s}x{t} y"));
        }
    }
}

#[test]
fn never_panics_on_random_input() {
    // A small deterministic generator over shell-significant characters.
    let alphabet: Vec<char> = "ab -'\"\\$`(){}[]<>|&;#\n\t=*~!@éx0123c".chars().collect();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..4000 {
        let mut s = String::new();
        let len = (state % 40) as usize;
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            s.push(alphabet[(state % alphabet.len() as u64) as usize]);
        }
        if let Ok(script) = parse(&s) {
            for cmd in script.commands() {
                let _ = cmd.normalized();
                let _ = cmd.unwrapped();
            }
        }
    }
}
