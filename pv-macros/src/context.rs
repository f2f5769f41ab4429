//! Where a declaration stands. An attribute macro sees only its item, and the item reads the
//! same in a module, an `extern` block or a trait (`fn name(args) -> T;`); what it expands to
//! (a function with a body and items inside it) is right only in the first. So the entry point
//! reads the source file around the attribute (`Span::local_file`, `Span::line`) and finds the
//! innermost enclosing block; anywhere else the declaration gets one error and is given back
//! unchanged, so nothing cascades. A heuristic over text, not a parser: braces inside char
//! literals can mislead it, and a declaration whose file cannot be read (one written by a
//! macro in another file) is taken to stand in a module.

/// The kind of block a declaration stands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// A module or a function body: where an intrinsic belongs.
    Module,
    /// An `extern` block: the declaration names a foreign function.
    ExternBlock,
    /// A trait or an `impl` block: the declaration is a method.
    Associated,
}

impl Context {
    /// Why the declaration cannot be an intrinsic here, or nothing.
    pub fn error(self) -> Option<&'static str> {
        match self {
            Context::Module => None,
            Context::ExternBlock => Some(crate::messages::IN_EXTERN_BLOCK),
            Context::Associated => Some(crate::messages::IN_TRAIT),
        }
    }
}

/// The context of the item whose attribute starts on `line` (1-based) of `source`.
pub fn enclosing(source: &str, line: usize) -> Context {
    let before: String = source
        .lines()
        .take(line.saturating_sub(1))
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut depth = 0usize;
    let mut open = None;
    for (i, c) in before.char_indices().rev() {
        match c {
            '}' => depth += 1,
            '{' if depth == 0 => {
                open = Some(i);
                break;
            }
            '{' => depth -= 1,
            _ => {}
        }
    }
    let Some(open) = open else {
        return Context::Module;
    };
    let header = before[..open].rsplit([';', '{', '}']).next().unwrap_or("");
    let words: Vec<&str> = header
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    if has("fn") || has("mod") {
        Context::Module
    } else if has("trait") || has("impl") {
        Context::Associated
    } else if has("extern") {
        Context::ExternBlock
    } else {
        Context::Module
    }
}

#[cfg(test)]
mod tests {
    use super::{Context, enclosing};

    fn at_marker(source: &str) -> Context {
        let line = source.lines().position(|l| l.contains("#[pv")).unwrap() + 1;
        enclosing(source, line)
    }

    #[test]
    fn finds_the_innermost_block() {
        let module = "mod m {\n    fn f() {}\n    #[pv_intrinsic]\n    fn g();\n}";
        assert_eq!(at_marker(module), Context::Module);
        assert_eq!(at_marker("#[pv_intrinsic]\nfn g();"), Context::Module);
        let ext = "unsafe extern \"C\" {\n    fn h();\n    #[pv_intrinsic]\n    fn g();\n}";
        assert_eq!(at_marker(ext), Context::ExternBlock);
        let tr = "pub trait T: Copy where Self: Sized {\n    #[pv_intrinsic]\n    fn g();\n}";
        assert_eq!(at_marker(tr), Context::Associated);
        let im = "impl T for X {\n    #[pv_intrinsic]\n    fn g();\n}";
        assert_eq!(at_marker(im), Context::Associated);
        let body = "fn main() {\n    let x = { 1 };\n    #[pv_intrinsic]\n    fn g();\n}";
        assert_eq!(at_marker(body), Context::Module);
        let braces = "mod m {\n    // a brace in a comment {\n    #[pv_intrinsic(native = \"mov r8=ar.k{kr}\")]\n}";
        assert_eq!(at_marker(braces), Context::Module);
    }
}
