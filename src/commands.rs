//! The subcommands: `build` runs the pipeline in lib.rs; `plan`, `inspect`, `merge`, `init`,
//! `diff`, `push` and `gc` are small compositions of its stages.

use crate::cli::{Command, MessageFormat, OciCli};
use crate::env::Env;
use crate::oci::json;
use crate::shell::Shell;
use crate::{build, diff, gc, init, inspect, merge, plan, push, report, Error};

/// Runs a subcommand; `Ok(false)` means it worked and its answer is "no" (images differ).
pub fn run(cli: &OciCli, env: &Env, shell: &mut Shell) -> Result<bool, Error> {
    match &cli.command {
        Command::Build(cmd) => {
            report::emit(cmd.message_format, build(&cmd.args.to_request(), env, shell)).map(|()| true)
        }
        Command::Plan(args) => {
            let plan = crate::plan(&args.args.to_request(), env, shell)?;
            match args.message_format {
                MessageFormat::Human => print!("{}", plan::show::human(&plan)),
                MessageFormat::Json => println!("{}", json::to_pretty_string(&plan).expect("plans are plain data")),
            }
            Ok(true)
        }
        Command::Inspect(args) => {
            let name = crate::store::name_from_arg(&args.image, &env.cwd)?;
            let settings = crate::registries::for_command(&args.registry.to_request(), env, name.registry())?;
            let report = inspect::inspect(crate::store::open(&name, &settings).as_ref())?;
            match args.message_format {
                MessageFormat::Human => print!("{}", inspect::human(&report)),
                MessageFormat::Json => println!("{}", json::to_pretty_string(&report).expect("reports are plain data")),
            }
            Ok(true)
        }
        Command::Merge(args) => {
            report::emit(args.message_format, merge::merge(args, env, shell).map_err(Error::from)).map(|()| true)
        }
        Command::Init(args) => {
            init::init(args, env, shell)?;
            Ok(true)
        }
        Command::Diff(args) => {
            let (a, b) =
                (crate::store::name_from_arg(&args.a, &env.cwd)?, crate::store::name_from_arg(&args.b, &env.cwd)?);
            let creds_for = a.registry().or(b.registry());
            let settings = crate::registries::for_command(&args.registry.to_request(), env, creds_for)?;
            let difference =
                diff::diff(crate::store::open(&a, &settings).as_ref(), crate::store::open(&b, &settings).as_ref())?;
            match (args.message_format, &difference) {
                (MessageFormat::Json, d) => {
                    let v = serde_json::json!({ "identical": d.is_none(), "difference": d });
                    println!("{}", String::from_utf8(json::to_vec(&v).expect("plain JSON")).expect("JSON is UTF-8"));
                }
                (MessageFormat::Human, None) => println!("identical: {} and {} are the same image", args.a, args.b),
                (MessageFormat::Human, Some(d)) => println!("{d}"),
            }
            Ok(difference.is_none())
        }
        Command::Lock(cmd) => {
            let update = match cmd.update.as_deref() {
                None => crate::lock::Update::None,
                Some("") => crate::lock::Update::All,
                Some(base) => crate::lock::Update::One(base.to_string()),
            };
            if let Some(path) = crate::lock::lock(&cmd.args.to_request(), &update, env, shell)? {
                println!("{}", path.display());
            }
            Ok(true)
        }
        Command::Rebase(args) => {
            let req = crate::rebase::RebaseRequest {
                image: &args.image,
                base: &args.base,
                output: args.to.output.as_ref(),
                push: args.to.push.as_deref(),
                tags: &args.to.tag,
                registry: args.registry.to_request(),
            };
            let done = crate::rebase::rebase(&req, env, shell).map_err(Error::from);
            report::emit(args.message_format, done).map(|()| true)
        }
        Command::Gc(args) => {
            gc::gc(args, env, shell)?;
            Ok(true)
        }
        Command::Push(args) => {
            report::emit(args.message_format, push::push(args, env, shell).map(|r| vec![r])).map(|()| true)
        }
    }
}
