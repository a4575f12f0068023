//! The template syntax of workflow fields: `{{inputs.NAME}}`,
//! `{{steps.ID.output}}`, `{{steps.ID.verify_output}}`, `{{item}}`,
//! `{{run.id}}`, `{{run.workspace}}`. Whitespace inside the braces is
//! allowed; `\{{` is a literal `{{`. A text is parsed once into parts
//! ([`Template`]), checked against what the field may refer to at
//! definition time, and rendered when the run reaches it.

use std::fmt;

/// What a `{{…}}` refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ref {
    /// `inputs.NAME`: an input of the run.
    Input(String),
    /// `steps.ID.output`: a step's output.
    StepOutput(String),
    /// `steps.ID.verify_output`: a step's last verify output.
    StepVerifyOutput(String),
    /// `item`: the fan-out item.
    Item,
    /// `run.id`: the run's id.
    RunId,
    /// `run.workspace`: the run's workspace directory.
    RunWorkspace,
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Input(n) => write!(f, "inputs.{n}"),
            Ref::StepOutput(s) => write!(f, "steps.{s}.output"),
            Ref::StepVerifyOutput(s) => write!(f, "steps.{s}.verify_output"),
            Ref::Item => f.write_str("item"),
            Ref::RunId => f.write_str("run.id"),
            Ref::RunWorkspace => f.write_str("run.workspace"),
        }
    }
}

/// A piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Ref(Ref),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Reads what is between the braces.
fn reference(inner: &str) -> Result<Ref, String> {
    let inner = inner.trim();
    let parts: Vec<&str> = inner.split('.').collect();
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    match parts.as_slice() {
        ["inputs", name] if plain(name) => Ok(Ref::Input(name.to_string())),
        ["steps", id, "output"] if plain(id) => Ok(Ref::StepOutput(id.to_string())),
        ["steps", id, "verify_output"] if plain(id) => Ok(Ref::StepVerifyOutput(id.to_string())),
        ["item"] => Ok(Ref::Item),
        ["run", "id"] => Ok(Ref::RunId),
        ["run", "workspace"] => Ok(Ref::RunWorkspace),
        _ => Err(format!("unknown reference `{inner}`")),
    }
}

impl Template {
    /// Parses `text`; the error says what is wrong (an unknown reference,
    /// an unclosed `{{`), without the field.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("\\{{") {
                literal.push_str("{{");
                rest = after;
            } else if let Some(after) = rest.strip_prefix("{{") {
                let end = after
                    .find("}}")
                    .ok_or_else(|| "a `{{` is not closed with `}}`".to_string())?;
                let r = reference(&after[..end])?;
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Ref(r));
                rest = &after[end + 2..];
            } else {
                let mut chars = rest.chars();
                if let Some(c) = chars.next() {
                    literal.push(c);
                }
                rest = chars.as_str();
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// A template of plain text (no references).
    pub fn literal(text: &str) -> Template {
        Template {
            parts: vec![Part::Text(text.to_string())],
        }
    }

    /// Parses a field a definition's check passed; should it no longer
    /// parse, it renders as written.
    pub fn checked(text: &str) -> Template {
        Template::parse(text).unwrap_or_else(|_| Template::literal(text))
    }

    /// The references it makes, in order.
    pub fn refs(&self) -> impl Iterator<Item = &Ref> {
        self.parts.iter().filter_map(|p| match p {
            Part::Ref(r) => Some(r),
            Part::Text(_) => None,
        })
    }

    /// The text with each reference replaced by `value(reference)`.
    pub fn render(&self, mut value: impl FnMut(&Ref) -> String) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Ref(r) => out.push_str(&value(r)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_with_whitespace_and_escapes() {
        let t = Template::parse(
            "Do {{inputs.task}} after {{ steps.plan.output }}; \\{{literal}} {{item}}{{run.id}}",
        )
        .unwrap();
        assert_eq!(
            t.refs().cloned().collect::<Vec<_>>(),
            vec![
                Ref::Input("task".into()),
                Ref::StepOutput("plan".into()),
                Ref::Item,
                Ref::RunId
            ]
        );
        let out = t.render(|r| match r {
            Ref::Input(_) => "X".into(),
            Ref::StepOutput(_) => "P".into(),
            Ref::Item => "I".into(),
            _ => "R".into(),
        });
        assert_eq!(out, "Do X after P; {{literal}} IR");
    }

    #[test]
    fn a_value_is_not_read_as_a_template_again() {
        let t = Template::parse("a {{inputs.x}} b").unwrap();
        assert_eq!(t.render(|_| "{{inputs.y}}".into()), "a {{inputs.y}} b");
    }

    #[test]
    fn refuses_unknown_references_and_unclosed_braces() {
        assert_eq!(
            Template::parse("{{steps.plna.outptu}}").unwrap_err(),
            "unknown reference `steps.plna.outptu`"
        );
        assert_eq!(
            Template::parse("{{ secrets.x }}").unwrap_err(),
            "unknown reference `secrets.x`"
        );
        assert!(
            Template::parse("a {{inputs.x")
                .unwrap_err()
                .contains("not closed")
        );
        assert!(Template::parse("{{}}").is_err());
        // Plain text, single braces and unicode pass through.
        let t = Template::parse("{ é } }}").unwrap();
        assert_eq!(t.render(|_| String::new()), "{ é } }}");
    }
}
