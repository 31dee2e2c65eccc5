//! The IR's text form: stable, one statement per line, for golden tests and `curve compile
//! --emit ir`.
//!
//! ```text
//! fn update(args 4, ret 0) {
//!   // oracle.update/price-range · PRICE
//!   price: u64 = load args[0]
//!   guard price <= max else abort 1  // price ≤ price.max
//! }
//! ```

use std::fmt::Write;

use curvevm::hostcall;
use curvevm::isa::Segment;

use crate::ir::{Addr, Cond, Function, Program, Rvalue, Stmt};

/// The text of a whole program.
pub fn program(program: &Program) -> String {
    let mut out = format!(
        "program params {} slab {} scratch {} capabilities [{}]\n",
        program.params,
        program.slab,
        program.scratch_reserved,
        program
            .capabilities
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for function in &program.functions {
        out.push('\n');
        out.push_str(&self::function(function));
    }
    for subroutine in &program.subroutines {
        let f = &subroutine.function;
        let names = |vars: &[crate::ir::Var]| {
            vars.iter()
                .map(|v| var(f, *v))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "\nsub {}({}) -> ({}) {{\n",
            f.name,
            names(&subroutine.params),
            names(&subroutine.results)
        ));
        body(f, &f.body, 1, &mut out);
        out.push_str("}\n");
    }
    out
}

/// The text of one function.
pub fn function(function: &Function) -> String {
    let mut out = format!(
        "fn {}(args {}, ret {}) {{\n",
        function.name, function.args, function.ret
    );
    body(function, &function.body, 1, &mut out);
    out.push_str("}\n");
    out
}

fn var(function: &Function, v: crate::ir::Var) -> String {
    match function.vars.get(v.0 as usize) {
        Some((name, _)) => format!("{name}.{}", v.0),
        None => format!("?{}", v.0),
    }
}

fn segment(segment: Segment) -> String {
    match segment {
        Segment::Params => "params".into(),
        Segment::Args => "args".into(),
        Segment::Ret => "ret".into(),
        Segment::Scratch => "scratch".into(),
        Segment::Slab => "slab".into(),
        Segment::View(i) => format!("view{i}"),
    }
}

fn addr(function: &Function, a: Addr) -> String {
    match a {
        Addr::Fixed(s, at) => format!("{}[{at}]", segment(s)),
        Addr::Indexed(s, index, offset) => {
            format!("{}[{} + {offset}]", segment(s), var(function, index))
        }
        Addr::Field(table, index, field) => format!(
            "{}@{}[{}].{field}",
            table.record.name,
            segment(table.segment),
            var(function, index)
        ),
    }
}

fn cond(function: &Function, c: Cond) -> String {
    let v = |x| var(function, x);
    match c {
        Cond::Lt(a, b) => format!("{} < {}", v(a), v(b)),
        Cond::Le(a, b) => format!("{} <= {}", v(a), v(b)),
        Cond::LtSigned(a, b) => format!("{} <s {}", v(a), v(b)),
        Cond::LeSigned(a, b) => format!("{} <=s {}", v(a), v(b)),
        Cond::Eq(a, b) => format!("{} == {}", v(a), v(b)),
        Cond::Ne(a, b) => format!("{} != {}", v(a), v(b)),
        Cond::Zero(a) => format!("{} == 0", v(a)),
        Cond::NonZero(a) => format!("{} != 0", v(a)),
    }
}

fn rvalue(function: &Function, value: &Rvalue) -> String {
    let v = |x| var(function, x);
    match value {
        Rvalue::Const(c) => format!("{c}"),
        Rvalue::Copy(a) => v(*a),
        Rvalue::Load(a) => format!("load {}", addr(function, *a)),
        Rvalue::Add(a, b) => format!("{} + {}", v(*a), v(*b)),
        Rvalue::Sub(a, b) => format!("{} - {}", v(*a), v(*b)),
        Rvalue::AddWrapping(a, b) => format!("{} +% {}", v(*a), v(*b)),
        Rvalue::WideMul(a, b) => format!("wide {} * {}", v(*a), v(*b)),
        Rvalue::Mul(a, b) => format!("{} * {}", v(*a), v(*b)),
        Rvalue::MulDiv(a, b, c) => format!("{} * {} / {}", v(*a), v(*b), v(*c)),
        Rvalue::Div(a, b) => format!("{} / {}", v(*a), v(*b)),
        Rvalue::Shr(a, n) => format!("{} >> {n}", v(*a)),
        Rvalue::Shl(a, n) => format!("{} << {n}", v(*a)),
        Rvalue::Widen(a) => format!("widen {}", v(*a)),
        Rvalue::Low(a) => format!("low {}", v(*a)),
        Rvalue::High(a) => format!("high {}", v(*a)),
        Rvalue::Join(lo, hi) => format!("join {}, {}", v(*lo), v(*hi)),
        Rvalue::Test(c) => format!("test {}", cond(function, *c)),
        Rvalue::AddSigned(a, b) => format!("{} +s {}", v(*a), v(*b)),
        Rvalue::SubSigned(a, b) => format!("{} -s {}", v(*a), v(*b)),
        Rvalue::Neg(a) => format!("-s {}", v(*a)),
        Rvalue::MulDivSigned(a, b, c) => format!("{} *s {} /s {}", v(*a), v(*b), v(*c)),
        Rvalue::ExpNeg(a) => format!("exp_neg({})", v(*a)),
        Rvalue::Ln(a) => format!("ln({})", v(*a)),
    }
}

fn body(function: &Function, stmts: &[Stmt], depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let v = |x| var(function, x);
    for stmt in stmts {
        // Writing to a String cannot fail.
        let _ = match stmt {
            Stmt::At(origin) => match origin.keyword {
                Some(keyword) => writeln!(out, "{pad}// {} · {keyword}", origin.step),
                None => writeln!(out, "{pad}// {}", origin.step),
            },
            Stmt::Assign(dst, value) => {
                let (_, ty) = &function.vars[dst.0 as usize];
                let ty = match ty {
                    crate::ir::Ty::U64 => "u64",
                    crate::ir::Ty::U128 => "u128",
                };
                writeln!(out, "{pad}{}: {ty} = {}", v(*dst), rvalue(function, value))
            }
            Stmt::Store(a, value) => {
                writeln!(out, "{pad}store {} = {}", addr(function, *a), v(*value))
            }
            Stmt::If {
                cond: c,
                then_body,
                else_body,
            } => {
                let _ = writeln!(out, "{pad}if {} {{", cond(function, *c));
                body(function, then_body, depth + 1, out);
                if !else_body.is_empty() {
                    let _ = writeln!(out, "{pad}}} else {{");
                    body(function, else_body, depth + 1, out);
                }
                writeln!(out, "{pad}}}")
            }
            Stmt::Loop {
                index,
                count,
                max,
                code,
                body: inner,
            } => {
                let _ = writeln!(
                    out,
                    "{pad}for {} in 0..{} (max {max}, else abort {code}) {{",
                    v(*index),
                    v(*count)
                );
                body(function, inner, depth + 1, out);
                writeln!(out, "{pad}}}")
            }
            Stmt::Guard {
                cond: c,
                code,
                what,
            } => writeln!(
                out,
                "{pad}guard {} else abort {code}  // {what}",
                cond(function, *c)
            ),
            Stmt::Host {
                id,
                args,
                results,
                units_max,
            } => {
                let name = hostcall::function(*id).map_or("?", |f| f.name);
                let args: Vec<String> = args.iter().map(|a| v(*a)).collect();
                let results: Vec<String> = results.iter().map(|r| v(*r)).collect();
                let assigned = if results.is_empty() {
                    String::new()
                } else {
                    format!("{} = ", results.join(", "))
                };
                writeln!(
                    out,
                    "{pad}{assigned}host {name}({}) (units ≤ {units_max})",
                    args.join(", ")
                )
            }
            Stmt::Invoke(invoke) => {
                let at = |(at, address): (Segment, u32)| format!("{}[{address}]", segment(at));
                writeln!(
                    out,
                    "{pad}{}, {} = invoke {}#{}({} word(s) at {}) -> {}, interface {} (gas ≤ {})",
                    v(invoke.status),
                    v(invoke.detail),
                    v(invoke.program),
                    invoke.entry,
                    invoke.arg_words,
                    at(invoke.args_at),
                    at(invoke.ret_at),
                    at(invoke.interface_at),
                    invoke.gas_max
                )
            }
            Stmt::Call {
                subroutine,
                args,
                results,
            } => {
                let args: Vec<String> = args.iter().map(|a| v(*a)).collect();
                let results: Vec<String> = results.iter().map(|r| v(*r)).collect();
                let assigned = if results.is_empty() {
                    String::new()
                } else {
                    format!("{} = ", results.join(", "))
                };
                writeln!(out, "{pad}{assigned}call {subroutine}({})", args.join(", "))
            }
            Stmt::Return => writeln!(out, "{pad}return"),
        };
    }
}
