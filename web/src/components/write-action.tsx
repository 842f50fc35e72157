import type { MouseEvent } from 'react';
import { useReadOnly } from '@/api/auth';
import { Button, type ButtonProps } from '@/components/ui/button';
import { Tooltip } from '@/components/ui/tooltip';
import { cn } from '@/lib/utils';

/** Why a change is not offered, shown on the disabled control. */
export const READ_ONLY_HINT = 'read-only role';

/**
 * A button that changes something on the cluster. For a read-only caller it
 * is disabled with a tooltip saying why. It uses `aria-disabled` rather than
 * `disabled`: a disabled button gets neither focus nor hover, so neither a
 * keyboard nor a mouse user could learn the reason.
 */
export function WriteButton({ onClick, disabled, className, ...props }: ButtonProps) {
  const readOnly = useReadOnly();
  if (!readOnly) {
    return <Button onClick={onClick} disabled={disabled} className={className} {...props} />;
  }
  const refuse = (event: MouseEvent<HTMLButtonElement>) => event.preventDefault();
  return (
    <Tooltip content={READ_ONLY_HINT}>
      <Button
        {...props}
        aria-disabled="true"
        onClick={refuse}
        className={cn('cursor-not-allowed opacity-50 hover:bg-inherit', className)}
      />
    </Tooltip>
  );
}
