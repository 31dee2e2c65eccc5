//! One module per group of instructions; each holds its accounts structs and handlers.

pub mod batch;
pub mod governance;
pub mod initialize;
pub mod registry;
pub mod vault;

pub use batch::*;
pub use governance::*;
pub use initialize::*;
pub use registry::*;
pub use vault::*;

use anchor_lang::prelude::*;
use anchor_lang::system_program;

/// Creates the PDA `account` (signed by `seeds`) with `space` bytes owned by `owner`.
///
/// Anyone may send lamports to a PDA's address before it exists, and `create_account` refuses
/// a funded address; so a funded address is topped up, allocated and assigned instead — the
/// same path Anchor's `init` takes — or a stranger could block a withdrawal for the price of a
/// transfer.
pub fn create_pda<'info>(
    payer: &AccountInfo<'info>,
    account: &AccountInfo<'info>,
    system: &AccountInfo<'info>,
    space: usize,
    owner: &Pubkey,
    seeds: &[&[u8]],
) -> Result<()> {
    let rent = Rent::get()?.minimum_balance(space);
    let signer: &[&[&[u8]]] = &[seeds];
    let funded = account.lamports();
    if funded == 0 {
        return system_program::create_account(
            CpiContext::new_with_signer(
                system.key(),
                system_program::CreateAccount {
                    from: payer.clone(),
                    to: account.clone(),
                },
                signer,
            ),
            rent,
            space as u64,
            owner,
        );
    }
    if funded < rent {
        system_program::transfer(
            CpiContext::new(
                system.key(),
                system_program::Transfer {
                    from: payer.clone(),
                    to: account.clone(),
                },
            ),
            rent - funded,
        )?;
    }
    system_program::allocate(
        CpiContext::new_with_signer(
            system.key(),
            system_program::Allocate {
                account_to_allocate: account.clone(),
            },
            signer,
        ),
        space as u64,
    )?;
    system_program::assign(
        CpiContext::new_with_signer(
            system.key(),
            system_program::Assign {
                account_to_assign: account.clone(),
            },
            signer,
        ),
        owner,
    )
}
