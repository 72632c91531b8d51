//! `api create-admin USERNAME`: the first admin, or another one, made by
//! whoever runs the service (there is no way to become an admin through the
//! API).
//!
//! A new account gets the password read from standard input, checked by the
//! rules registration uses. An existing account is promoted and keeps its
//! own password: the operator never needs to know it, and the user's other
//! sessions go on as they were (now with the admin role, which is read at
//! every request).

use std::io::{BufRead, IsTerminal};

use domain::account::{DisplayName, NewPassword, Username};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, DatabaseConnection, IntoActiveModel};

use crate::auth::{Role, password};
use crate::config::Config;
use crate::db::{self, entities::user, users};

/// What `api create-admin --help` prints.
pub const HELP: &str = "\
Usage: api create-admin USERNAME

Makes USERNAME an admin, who may change the menu (/api/v1/admin/...).

  - No account has that username: one is created, with the role admin and
    the password read from standard input. At a terminal it is asked for
    twice and not shown; otherwise the first line of standard input is the
    password (echo 'the password' | api create-admin ada).
  - The account exists: it becomes an admin and keeps its password; no
    password is read.

The username and the password follow the rules of registration: 3 to 32 of
a-z 0-9 _ . - for the username; 8 to 128 characters, not easy to guess, for
the password. The database is the one the service uses (DATABASE_URL or the
embedded default), migrated first if needed.

Exit status: 0 done; 2 a username or password that is refused, or wrong
usage; 1 the database could not be reached or written.
";

/// What the command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created {
        id: i32,
        username: String,
    },
    Promoted {
        id: i32,
        username: String,
        disabled: bool,
    },
    AlreadyAdmin {
        id: i32,
        username: String,
        disabled: bool,
    },
}

impl Outcome {
    /// The line an operator reads.
    pub fn describe(&self) -> String {
        let disabled_note = |disabled: bool| {
            if disabled {
                " The account is disabled: it cannot sign in until it is enabled again."
            } else {
                ""
            }
        };
        match self {
            Outcome::Created { id, username } => {
                format!("Created the admin account {username} (id {id}).")
            }
            Outcome::Promoted {
                id,
                username,
                disabled,
            } => format!(
                "Made the account {username} (id {id}) an admin; its password is unchanged.{}",
                disabled_note(*disabled)
            ),
            Outcome::AlreadyAdmin {
                id,
                username,
                disabled,
            } => format!(
                "The account {username} (id {id}) is already an admin; nothing changed.{}",
                disabled_note(*disabled)
            ),
        }
    }
}

/// Why the command stopped.
#[derive(Debug, thiserror::Error)]
pub enum CreateAdminError {
    /// Something the operator typed or sent is refused: exit status 2.
    #[error("{0}")]
    Refused(String),
    /// The work could not be done (database, hashing): exit status 1.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

impl CreateAdminError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CreateAdminError::Refused(_) => 2,
            CreateAdminError::Failed(_) => 1,
        }
    }
}

impl From<crate::error::ApiError> for CreateAdminError {
    fn from(e: crate::error::ApiError) -> Self {
        CreateAdminError::Failed(anyhow::anyhow!("{e:?}"))
    }
}

/// What the arguments after `create-admin` ask for.
#[derive(Debug, PartialEq, Eq)]
pub enum Args {
    /// `--help` or `-h`: print [`HELP`].
    Help,
    /// Anything but one username: print [`HELP`] and fail.
    Invalid,
    /// Create or promote this username.
    Username(String),
}

impl Args {
    pub fn parse(args: &[String]) -> Args {
        match args {
            [flag] if flag == "--help" || flag == "-h" => Args::Help,
            [username] if !username.starts_with('-') => Args::Username(username.clone()),
            _ => Args::Invalid,
        }
    }
}

/// Creates or promotes the admin `username`. `read_password` is called only
/// when an account is created, with the username to ask for; it runs on
/// the blocking pool, since it may wait on a person at a terminal.
pub async fn run(
    config: &Config,
    username: &str,
    read_password: impl FnOnce(&str) -> std::io::Result<String> + Send + 'static,
) -> Result<Outcome, CreateAdminError> {
    let username = Username::parse(username)
        .map_err(|e| CreateAdminError::Refused(format!("Username refused: {}", e.message)))?;
    let db = db::connect(config).await.map_err(|e| {
        CreateAdminError::Failed(
            e.context("No admin was made: is the database of DATABASE_URL up?"),
        )
    })?;
    let result = create_or_promote(&db, &username, read_password).await;
    db.close().await.ok();
    result
}

async fn create_or_promote(
    db: &DatabaseConnection,
    username: &Username,
    read_password: impl FnOnce(&str) -> std::io::Result<String> + Send + 'static,
) -> Result<Outcome, CreateAdminError> {
    db::migrate(db).await.map_err(CreateAdminError::Failed)?;
    if let Some(existing) = users::find_by_username(db, username).await? {
        return promote(db, existing).await;
    }
    let name = username.as_str().to_owned();
    let raw = tokio::task::spawn_blocking(move || read_password(&name))
        .await
        .map_err(|e| CreateAdminError::Failed(e.into()))?
        .map_err(|e| {
            CreateAdminError::Refused(format!(
                "No password could be read from standard input: {e}."
            ))
        })?;
    let password =
        NewPassword::parse(NewPassword::FIELD, &raw, &[username.as_str()]).map_err(|e| {
            CreateAdminError::Refused(format!(
                "Password refused: it {}\nChoose another and run the command again.",
                e.message
            ))
        })?;
    let hash = password::hash(password.into_string()).await?;
    let now = time::OffsetDateTime::now_utc();
    let display_name = DisplayName::from_username(username);
    // Created with the role admin in one write: never a customer first.
    let created = users::create(db, username, &display_name, hash, Role::Admin, now)
        .await
        .map_err(|e| {
            if e.to_problem().status == 409 {
                CreateAdminError::Refused(format!(
                    "The account {username} was created by someone else meanwhile; run the command again to make it an admin."
                ))
            } else {
                e.into()
            }
        })?;
    tracing::info!(
        user_id = created.id,
        username = %username,
        "admin account created from the command line"
    );
    Ok(Outcome::Created {
        id: created.id,
        username: username.as_str().to_owned(),
    })
}

async fn promote(
    db: &DatabaseConnection,
    existing: user::Model,
) -> Result<Outcome, CreateAdminError> {
    let (id, username, disabled) = (existing.id, existing.username.clone(), existing.disabled);
    if Role::parse(&existing.role) == Some(Role::Admin) {
        return Ok(Outcome::AlreadyAdmin {
            id,
            username,
            disabled,
        });
    }
    set_role_admin(db, existing)
        .await
        .map_err(CreateAdminError::Failed)?;
    tracing::info!(user_id = id, username = %username, "account made an admin from the command line");
    Ok(Outcome::Promoted {
        id,
        username,
        disabled,
    })
}

async fn set_role_admin(db: &DatabaseConnection, row: user::Model) -> anyhow::Result<()> {
    let mut row = row.into_active_model();
    row.role = Set(Role::Admin.as_str().to_owned());
    row.update(db).await?;
    Ok(())
}

/// The longest line read as a password: longer than any password accepted,
/// so a long one is refused by its length, not cut.
const MAX_LINE_BYTES: u64 = 4096;

/// Reads the password for `username`: at a terminal, asked twice without
/// echo; otherwise the first line of standard input, without its line end.
pub fn read_password(username: &str) -> std::io::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {username}: "))?;
        let again = rpassword::prompt_password("The same password again: ")?;
        if first != again {
            return Err(std::io::Error::other("the two passwords differ"));
        }
        return Ok(first);
    }
    first_line(std::io::stdin().lock())
}

/// The first line of `input`, without its `\n` or `\r\n`.
fn first_line(input: impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    let read = input.take(MAX_LINE_BYTES).read_line(&mut line)?;
    if read == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "standard input is empty; pipe the password in, or run the command at a terminal",
        ));
    }
    if let Some(stripped) = line.strip_suffix('\n') {
        line.truncate(stripped.strip_suffix('\r').unwrap_or(stripped).len());
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arguments_are_one_username_or_a_request_for_help() {
        let parse =
            |args: &[&str]| Args::parse(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>());
        assert_eq!(parse(&["ada"]), Args::Username("ada".to_owned()));
        assert_eq!(parse(&["--help"]), Args::Help);
        assert_eq!(parse(&["-h"]), Args::Help);
        assert_eq!(parse(&[]), Args::Invalid);
        assert_eq!(parse(&["ada", "bob"]), Args::Invalid);
        assert_eq!(parse(&["--force"]), Args::Invalid);
    }

    #[test]
    fn the_first_line_is_the_password_without_its_line_end() {
        let read = |s: &str| first_line(s.as_bytes()).unwrap();
        assert_eq!(read("correct horse\nsecond line\n"), "correct horse");
        assert_eq!(read("windows line\r\n"), "windows line");
        assert_eq!(read("no line end"), "no line end");
        assert_eq!(read(" spaces kept \n"), " spaces kept ");
        assert!(first_line("".as_bytes()).is_err());
    }
}
